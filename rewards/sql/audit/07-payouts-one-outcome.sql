-- After its hold, a payout has at most one outcome (settle or release), matching its state: paid
-- has a settle, released a release, reversed a settle and one reversal, a payout still in flight
-- none of them.
select p.payout_id as id, p.state, count(t.transaction_id) as outcomes, string_agg(t.kind, ',' order by t.kind) as kinds
from payouts p
left join transactions t on t.reference = p.payout_id::text and t.kind in ('settle', 'release', 'reversal')
group by p.payout_id, p.state
having count(t.transaction_id) filter (where t.kind in ('settle', 'release')) > 1
  or (p.state = 'paid' and coalesce(string_agg(t.kind, ',' order by t.kind), '') <> 'settle')
  or (p.state = 'released' and coalesce(string_agg(t.kind, ',' order by t.kind), '') <> 'release')
  or (p.state = 'reversed' and coalesce(string_agg(t.kind, ',' order by t.kind), '') <> 'reversal,settle')
  or (p.state not in ('paid', 'released', 'reversed') and count(t.transaction_id) > 0)
