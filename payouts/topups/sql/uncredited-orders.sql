-- Paid orders whose credit the ledger has not posted (a hand-off lost in a crash), up to $3, oldest
-- first. The ledger's key of an order is $1 || out_trade_no || $2 (rewards' idempotencyKey('topup', no)).
select out_trade_no from topup_orders o
where state = 'paid' and not exists (select from transactions t where t.idempotency_key = $1 || o.out_trade_no || $2)
order by updated_at
limit $3
