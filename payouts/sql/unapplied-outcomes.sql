-- Provider outcomes the ledger has not applied yet (a hand-off lost in a crash), oldest first, up to
-- $1, with the payout's state: a reversed transfer whose payout is not paid yet needs its settle too.
select t.payout_id, t.state, p.state as payout_state
from payout_transfers t join payouts p using (payout_id)
where t.state in ('succeeded', 'failed', 'reversed')
  and p.state <> case t.state when 'succeeded' then 'paid' when 'failed' then 'released' else 'reversed' end
  and not (t.state = 'succeeded' and p.state = 'reversed')
order by t.updated_at
limit $1
