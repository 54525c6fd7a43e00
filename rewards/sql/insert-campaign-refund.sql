-- A campaign refund accepted, its hold posted in the same transaction: $1 refund_id, $2 campaign_id,
-- $3 advertiser_id, $4 Idempotency-Key, $5 amount (fen), $6 currency, $7 reason.
insert into campaign_refunds (refund_id, campaign_id, advertiser_id, idempotency_key, amount_fen, currency, reason, state)
values ($1, $2, $3, $4, $5, $6, $7, 'requested')
returning refund_id, campaign_id, advertiser_id, amount_fen, currency, reason, state, created_at
