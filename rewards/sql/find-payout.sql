-- A person's ($1, <app_id>:<user_id>) payout request by its idempotency key, the first of $2 (text[])
-- found, in that order: the current key, then the forms it had before (README "Idempotency keys"),
-- so a request retried across an upgrade finds its payout. Older forms were ambiguous across users
-- ("a:b" + "c" = "a" + "b:c"; a bare user id of several apps), hence the person must match too.
select payout_id, user_id, amount_fen, currency, source, idempotency_key, state, created_at, updated_at
from payouts where user_id = $1 and idempotency_key = any ($2::text[])
order by array_position($2::text[], idempotency_key)
limit 1
