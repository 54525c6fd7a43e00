-- The campaign refund advertiser $1 asked for under Idempotency-Key $2, if any.
select refund_id, campaign_id, advertiser_id, amount_fen, currency, reason, state, created_at
from campaign_refunds where advertiser_id = $1 and idempotency_key = $2
