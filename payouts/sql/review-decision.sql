-- An operator's decision on transfer of payout $1 held for review: $2 = 'approve' queues it again,
-- 'reject' fails it (its money goes back to the user). Returns the transfer's new state.
with t as (
  update payout_transfers set state = case when $2 = 'approve' then 'queued' else 'failed' end,
    fail_reason = case when $2 = 'approve' then null else 'rejected_in_review' end, updated_at = now()
  where payout_id = $1::uuid and state = 'review'
  returning payout_id, state
), p as (
  update payouts set state = 'accepted', updated_at = now() where payout_id in (select payout_id from t where state = 'queued') and state = 'review'
), e as (
  insert into payout_events (payout_id, state, detail) select payout_id, case when state = 'queued' then 'approved' else 'rejected' end, '{}' from t
)
select state from t
