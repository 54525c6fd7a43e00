-- After its hold, a payout has at most one outcome (settle or release), matching its state: paid
-- has a settle, released a release, a payout still in flight neither.
select p.payout_id as id, p.state, count(t.transaction_id) as outcomes, string_agg(t.kind, ',') as kinds
from payouts p
left join transactions t on t.reference = p.payout_id::text and t.kind in ('settle', 'release')
group by p.payout_id, p.state
having count(t.transaction_id) > 1
  or (p.state = 'paid' and coalesce(string_agg(t.kind, ','), '') <> 'settle')
  or (p.state = 'released' and coalesce(string_agg(t.kind, ','), '') <> 'release')
  or (p.state not in ('paid', 'released') and count(t.transaction_id) > 0)
