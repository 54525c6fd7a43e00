-- WeChat answered order $1's create: it is open with its code_url $2 (Native) or prepay_id $3 (JSAPI),
-- '' for neither, and queried in $4 ms unless a notification comes first. Only from created: an order
-- the sweep already moved on (paid, closing) keeps its state. Returns the order when it moved.
update topup_orders set state = 'open', code_url = nullif($2, ''), prepay_id = nullif($3, ''),
  next_poll_at = now() + make_interval(secs => $4::double precision / 1000), updated_at = now()
where out_trade_no = $1 and state = 'created'
returning *
