-- An operator's decision on the transfer of payout $1: $2 = 'approve' queues one held for review
-- again, marked approved (forming runs no risk rule on it again; the real-name rule still applies);
-- 'reject' fails one held for review or waiting for its real name (its money goes back to the user).
-- Returns the transfer's new state.
with t as (
  update payout_transfers set state = case when $2 = 'approve' then 'queued' else 'failed' end,
    approved = approved or $2 = 'approve',
    fail_reason = case when $2 = 'approve' then null else 'rejected_in_review' end, updated_at = now()
  where payout_id = $1::uuid and (state = 'review' or (state = 'awaiting_name' and $2 = 'reject'))
  returning payout_id, state
), e as (
  insert into payout_transfer_events (payout_id, state, detail) select payout_id, case when state = 'queued' then 'approved' else 'rejected' end, '{}' from t
)
select state from t
