-- The top-up orders the trade bill of China day $2 is compared with: those its rows name ($1
-- out_trade_no), and those paid on day $2 by our record (paid_that_day), which the bill must show.
with bounds as (
  select ($2::date::timestamp at time zone 'Asia/Shanghai') as day_from, (($2::date + 1)::timestamp at time zone 'Asia/Shanghai') as day_to
)
select o.out_trade_no, o.amount_fen, o.state, coalesce(o.transaction_id, '') as transaction_id,
  coalesce(o.paid_at >= b.day_from and o.paid_at < b.day_to, false) as paid_that_day
from topup_orders o, bounds b
where o.out_trade_no = any($1::text[]) or (o.state = 'paid' and o.paid_at >= b.day_from and o.paid_at < b.day_to)
