-- Campaign refund $1 is done: every part final and in the ledger. $2: refunded, partly_refunded or
-- failed. Only from requested, once.
update campaign_refunds set state = $2, updated_at = now() where refund_id = $1 and state = 'requested'
