-- The whole-order refund $2 of order $1, resolved 'refund' by a person: a topup_refunds row with no
-- campaign refund (it never entered the ledger), created, looked at by the sweep in $3 ms. Once.
insert into topup_refunds (out_refund_no, out_trade_no, refund_id, amount_fen, state, next_poll_at)
select $2, out_trade_no, null, paid_fen, 'created', now() + make_interval(secs => $3::double precision / 1000)
from topup_orders where out_trade_no = $1 and resolution = 'refund' and paid_fen > 0
on conflict (out_refund_no) do nothing
