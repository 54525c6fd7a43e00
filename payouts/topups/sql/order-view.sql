-- Order $1 as the API shows it, with its refunds (parts of campaign refunds, or a whole-order one).
select o.*, coalesce((
  select json_agg(json_build_object('out_refund_no', r.out_refund_no, 'refund_id', r.refund_id, 'amount_fen', r.amount_fen,
    'state', r.state, 'provider_state', r.provider_state, 'reason', r.reason, 'succeeded_at', r.succeeded_at, 'created_at', r.created_at)
    order by r.out_refund_no)
  from topup_refunds r where r.out_trade_no = o.out_trade_no), '[]'::json) as refunds
from topup_orders o where o.out_trade_no = $1
