-- How many of batch $1's transfers are still in flight (batched), read after recording: polls of
-- one transfer each may run at once, and only a count made after its own record sees the others'.
select count(*)::int as n from payout_transfers where batch_no = $1 and state = 'batched'
