-- Records what the provider said about batch $1's transfers: request numbers $2, outcomes $3
-- (succeeded | failed | pending), reasons $4, provider ids $5, package_info $6, WeChat's state words
-- $7 (a bill's ACCEPTED ... CANCELLED; '' when unknown). A transfer moves only forward: batched ->
-- succeeded | failed, and succeeded -> reversed when the provider fails it later. A stored package is
-- never replaced by nothing (a query's answer carries none); package_at says when the last came.
-- For the per-transfer products ($8 not null), each pending transfer's next query is set: in $9 ms
-- while it waits for its user (and no cancel was asked for), else in $8 ms. Returns every transfer
-- touched with its payout and state, and what it needs next: 'cancel' (asked for, and WeChat shows it
-- still cancellable) or 'package' (WeChat shows it waiting for its user, and the stored package is
-- missing or older than $10 ms; never for a bill sent with the user's authorization, which has no page).
with r as (
  select * from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) as r(request_no, outcome, reason, provider_id, package_info, provider_state)
), moved as (
  update payout_transfers t set
    state = case when r.outcome = 'pending' then t.state when t.state = 'succeeded' then 'reversed' else r.outcome end,
    fail_reason = case when r.outcome = 'pending' then t.fail_reason else coalesce(nullif(r.reason, ''), t.fail_reason) end,
    provider_id = coalesce(nullif(r.provider_id, ''), t.provider_id),
    package_info = coalesce(nullif(r.package_info, ''), t.package_info),
    package_at = case when r.package_info = '' then t.package_at else now() end,
    provider_state = coalesce(nullif(r.provider_state, ''), t.provider_state),
    next_poll_at = case when r.outcome <> 'pending' or $8::bigint is null then t.next_poll_at
      else now() + make_interval(secs => (case when coalesce(nullif(r.provider_state, ''), t.provider_state) = 'WAIT_USER_CONFIRM'
        and t.cancel_requested_at is null then $9::bigint else $8::bigint end)::double precision / 1000) end,
    updated_at = now()
  from r
  where t.request_no = r.request_no and t.batch_no = $1
    and ((t.state = 'batched' and (r.outcome <> 'pending' or $8::bigint is not null or r.package_info <> '' or r.provider_state <> coalesce(t.provider_state, '')))
      or (t.state = 'succeeded' and r.outcome = 'failed'))
  returning t.payout_id, t.request_no, t.state, t.fail_reason, t.provider_id,
    case when t.state <> 'batched' or r.provider_state = '' then null
      when t.cancel_requested_at is not null then case when r.provider_state in ('ACCEPTED', 'PROCESSING', 'WAIT_USER_CONFIRM') then 'cancel' end
      when r.provider_state in ('WAIT_USER_CONFIRM', 'TRANSFERING') and coalesce(t.authorization_id, '') = ''
        and (t.package_info is null or t.package_at < now() - make_interval(secs => $10::double precision / 1000)) then 'package'
    end as need
), history as (
  insert into payout_transfer_events (payout_id, state, detail)
  select payout_id, 'provider_' || state, jsonb_strip_nulls(jsonb_build_object('reason', fail_reason, 'provider_id', provider_id))
  from moved where state <> 'batched'
)
select payout_id, request_no, state, need from moved
