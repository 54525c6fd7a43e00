-- Order $1, closing, that WeChat does not know ($2: its code, ORDER_NOT_EXIST): its create never
-- reached WeChat (no answer was ever recorded), and past its expiry it never will. Closed.
update topup_orders set state = 'closed', provider_state = $2, updated_at = now()
where out_trade_no = $1 and state = 'closing' and code_url is null and prepay_id is null
returning state
