-- One payout request by its idempotency key ($1) or id ($2).
select payout_id, user_id, amount_fen, currency, source, idempotency_key, state, created_at, updated_at
from payouts where idempotency_key = $1 or payout_id = $2::uuid
