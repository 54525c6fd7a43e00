-- Forms batch $1 for api $2 with request parameters $8 (jsonb) from transfers $3 (request numbers),
-- each with its payee's sealed real name $4 (bytea, null when it needs none), kept on the transfer so
-- a resubmission sends the same name. Holds transfers $5 for review with reasons $6, and puts
-- transfers $7 to wait for their person's real name, each with its history entry. Only queued
-- transfers move.
with b as (
  insert into payout_batches (batch_no, api, params) select $1, $2, $8::jsonb where cardinality($3::text[]) > 0 returning batch_no
), batched as (
  update payout_transfers t set state = 'batched', batch_no = (select batch_no from b), user_name_enc = s.name, fail_reason = null, updated_at = now()
  from unnest($3::text[], $4::bytea[]) as s(request_no, name)
  where t.request_no = s.request_no and t.state = 'queued' returning t.payout_id, t.batch_no
), held as (
  update payout_transfers t set state = 'review', fail_reason = r.reason, updated_at = now()
  from unnest($5::text[], $6::text[]) as r(request_no, reason)
  where t.request_no = r.request_no and t.state = 'queued' returning t.payout_id, r.reason
), waiting as (
  update payout_transfers t set state = 'awaiting_name', fail_reason = 'real_name_required', updated_at = now()
  where t.request_no = any($7::text[]) and t.state = 'queued' returning t.payout_id
)
insert into payout_transfer_events (payout_id, state, detail)
select payout_id, 'batched', jsonb_build_object('batch_no', batch_no, 'api', $2::text) from batched
union all select payout_id, 'review', jsonb_build_object('reason', reason) from held
union all select payout_id, 'awaiting_name', jsonb_build_object('reason', 'real_name_required') from waiting
