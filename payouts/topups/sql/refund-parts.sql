-- The parts of campaign refund $1 (or, with $1 null, part $2 alone), each with what its call sends:
-- the order's total as WeChat has it (paid_fen) and the campaign refund's reason; state_reason is
-- why the part is failed or in attention.
select p.out_refund_no, p.out_trade_no, p.refund_id, p.amount_fen, p.state, p.provider_state, p.reason as state_reason, o.paid_fen as total_fen,
  coalesce(c.reason, '') as refund_reason
from topup_refunds p join topup_orders o using (out_trade_no) left join campaign_refunds c using (refund_id)
where ($1::uuid is not null and p.refund_id = $1) or ($1::uuid is null and p.out_refund_no = $2)
order by p.out_refund_no
