-- Campaign refund $1 of campaign $2: the request, its parts at WeChat (topup_refunds, the payouts
-- service's), and what the ledger settled (to the advertiser) and released (to the budget) of it.
select r.refund_id, r.campaign_id, r.advertiser_id, r.amount_fen, r.currency, r.reason, r.state, r.created_at, r.updated_at,
  coalesce(parts.list, '[]'::json) as parts, coalesce(money.settled, 0) as settled_fen, coalesce(money.released, 0) as released_fen
from campaign_refunds r
left join lateral (
  select json_agg(json_build_object('out_refund_no', x.out_refund_no, 'out_trade_no', x.out_trade_no, 'amount_fen', x.amount_fen,
    'state', x.state, 'reason', x.reason) order by x.out_refund_no) as list
  from topup_refunds x where x.refund_id = r.refund_id
) parts on true
left join lateral (
  select sum(p.debit) filter (where t.kind = 'refund_settle') as settled, sum(p.debit) filter (where t.kind = 'refund_release') as released
  from topup_refunds x
  join transactions t on t.kind in ('refund_settle', 'refund_release') and t.reference = x.out_refund_no
  join postings p on p.transaction_id = t.transaction_id and p.debit > 0
  where x.refund_id = r.refund_id
) money on true
where r.refund_id = $1 and r.campaign_id = $2
