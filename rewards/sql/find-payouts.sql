-- Payout requests by id ($1 uuid[]).
select payout_id, user_id, amount_fen, currency, source, idempotency_key, state
from payouts where payout_id = any($1::uuid[])
