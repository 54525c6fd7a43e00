-- Holds batch $1's transfers $2 (request numbers) for a person: WeChat refused each alone with code $3
-- and message $4 (neither retriable nor final), and the rest of the batch went on. batched -> review,
-- with a 'review' history entry: the code, the message, the batch and
-- what the person must do ($5). The money stays held; `review approve` queues it again (same number),
-- `review reject` releases it. Only transfers still batched in this batch move.
with h as (
  select * from unnest($2::text[], $3::text[], $4::text[], $5::text[]) as h(request_no, reason, message, note)
), held as (
  update payout_transfers t set state = 'review', fail_reason = h.reason, next_poll_at = null, updated_at = now()
  from h
  where t.request_no = h.request_no and t.batch_no = $1 and t.state = 'batched'
  returning t.payout_id, h.reason, h.message, h.note
)
insert into payout_transfer_events (payout_id, state, detail)
select payout_id, 'review', jsonb_build_object('reason', reason, 'message', message, 'batch_no', $1::text, 'note', note) from held
returning payout_id
