-- A user's ($1) payout request by its idempotency key ($2), or by the form the key had before keys
-- were JSON arrays ($3), so a request retried across that upgrade finds its payout. The old form was
-- ambiguous across users ("a:b" + "c" = "a" + "b:c"), hence the user must match too. Current form first.
select payout_id, user_id, amount_fen, currency, source, idempotency_key, state, created_at, updated_at
from payouts where user_id = $1 and idempotency_key in ($2, $3)
order by idempotency_key = $2 desc
limit 1
