-- A person's decision $2 (credit | refund) on order $1 in attention: credit makes it paid (the ledger
-- then credits it); refund keeps it in attention, to be refunded whole. Once only; returns the order.
update topup_orders set resolution = $2,
  state = case when $2 = 'credit' then 'paid' else state end,
  attention_reason = case when $2 = 'credit' then null else attention_reason end,
  updated_at = now()
where out_trade_no = $1 and state = 'attention' and resolution is null
returning *
