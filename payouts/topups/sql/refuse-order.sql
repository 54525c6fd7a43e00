-- WeChat refused order $1's create with code $2 (signed, not retriable): nothing can be paid on it,
-- so it is closed, the code kept as its provider_state. Only from created.
update topup_orders set state = 'closed', provider_state = $2, updated_at = now()
where out_trade_no = $1 and state = 'created'
returning state
