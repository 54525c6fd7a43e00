-- Forms batch $1 for api $2 with request parameters $6 (jsonb) from transfers $3 (request numbers) and
-- holds transfers $4 for review with reasons $5; each payout's state (accepted -> batched | review) and history follow. Only queued
-- transfers move.
with b as (
  insert into payout_batches (batch_no, api, params) select $1, $2, $6::jsonb where cardinality($3::text[]) > 0 returning batch_no
), batched as (
  update payout_transfers set state = 'batched', batch_no = (select batch_no from b), updated_at = now()
  where request_no = any($3::text[]) and state = 'queued' returning payout_id, batch_no
), held as (
  update payout_transfers t set state = 'review', fail_reason = r.reason, updated_at = now()
  from unnest($4::text[], $5::text[]) as r(request_no, reason)
  where t.request_no = r.request_no and t.state = 'queued' returning t.payout_id, r.reason
), moved as (
  update payouts p set state = x.state, updated_at = now()
  from (select payout_id, 'batched' as state from batched union all select payout_id, 'review' from held) x
  where p.payout_id = x.payout_id and p.state = 'accepted' returning p.payout_id
)
insert into payout_events (payout_id, state, detail)
select payout_id, 'batched', jsonb_build_object('batch_no', batch_no, 'api', $2::text) from batched
union all select payout_id, 'review', jsonb_build_object('reason', reason) from held
