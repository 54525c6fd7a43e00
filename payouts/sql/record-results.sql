-- Records what the provider said about batch $1's transfers: request numbers $2, outcomes $3
-- (succeeded | failed | pending), reasons $4, provider ids $5, package_info $6. A transfer moves
-- only forward: batched -> succeeded | failed, and succeeded -> reversed when the provider fails it
-- later. Returns the transfers that moved, with their payouts, for the ledger.
with r as (
  select * from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) as r(request_no, outcome, reason, provider_id, package_info)
), moved as (
  update payout_transfers t set
    state = case when r.outcome = 'pending' then t.state when t.state = 'succeeded' then 'reversed' else r.outcome end,
    fail_reason = coalesce(nullif(r.reason, ''), t.fail_reason),
    provider_id = coalesce(nullif(r.provider_id, ''), t.provider_id),
    package_info = nullif(r.package_info, ''),
    updated_at = now()
  from r
  where t.request_no = r.request_no and t.batch_no = $1
    and ((t.state = 'batched' and r.outcome <> 'pending')
      or (t.state = 'succeeded' and r.outcome = 'failed')
      or (t.state = 'batched' and coalesce(t.package_info, '') <> r.package_info))
  returning t.payout_id, t.state, t.fail_reason, t.provider_id
), history as (
  insert into payout_events (payout_id, state, detail)
  select payout_id, 'provider_' || state, jsonb_strip_nulls(jsonb_build_object('reason', fail_reason, 'provider_id', provider_id))
  from moved where state <> 'batched'
)
select payout_id, state from moved where state <> 'batched'
