-- The refunds (parts) the trade bill of China day $2 is compared with: those its rows name ($1
-- out_refund_no), and those that succeeded on day $2 by our record (succeeded_that_day).
with bounds as (
  select ($2::date::timestamp at time zone 'Asia/Shanghai') as day_from, (($2::date + 1)::timestamp at time zone 'Asia/Shanghai') as day_to
)
select r.out_refund_no, r.out_trade_no, r.amount_fen, r.state,
  coalesce(r.succeeded_at >= b.day_from and r.succeeded_at < b.day_to, false) as succeeded_that_day
from topup_refunds r, bounds b
where r.out_refund_no = any($1::text[]) or (r.state = 'succeeded' and r.succeeded_at >= b.day_from and r.succeeded_at < b.day_to)
