-- Moves order $1 from state $2 to $3 on WeChat's word (a query or a notification), guarded by the
-- state the caller read: another worker's move first makes this change nothing (no row returned).
-- $4 attention reason (kept while it stays in attention), $5 WeChat's trade_state, $6 transaction_id,
-- $7 paid_fen, $8 paid_at (the payment's, when WeChat said SUCCESS; else null: kept as they are).
update topup_orders set state = $3,
  attention_reason = case when $3 = 'attention' then coalesce(attention_reason, $4) end,
  provider_state = coalesce($5, provider_state),
  transaction_id = coalesce($6, transaction_id), paid_fen = coalesce($7, paid_fen), paid_at = coalesce($8, paid_at),
  updated_at = now()
where out_trade_no = $1 and state = $2
returning state
