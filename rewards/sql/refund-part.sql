-- Refund part $1 (out_refund_no) with its campaign refund (null for a whole-order refund, which the
-- ledger never saw). topup_refunds is the payouts service's; rewards only reads it.
select x.out_refund_no, x.amount_fen, x.state, r.refund_id, r.campaign_id, r.advertiser_id, r.amount_fen as refund_fen, r.currency
from topup_refunds x left join campaign_refunds r using (refund_id)
where x.out_refund_no = $1
