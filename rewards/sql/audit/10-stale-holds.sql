-- No money is held longer than the stale-hold age with no provider activity: a payout neither paid,
-- released nor reversed, nor held for review, whose hold and last provider outcome are both older
-- than audit.stale_hold_ms (REWARDS_AUDIT_STALE_HOLD_MS, default 48 h) is stranded. A payout waiting
-- for its payee's real name (awaiting_name, from 2,000 yuan) is left out like review: its money waits
-- by the user's choice, not by a fault, until they give the name or an operator rejects it.
with age as (
  select make_interval(secs => coalesce(nullif(current_setting('audit.stale_hold_ms', true), ''), '172800000')::double precision / 1000) as stale
)
select p.payout_id::text as id, p.state, t.state as transfer_state, t.batch_no, b.state as batch_state, p.amount_fen,
  h.created_at as held_at, e.last_outcome_at
from payouts p
join transactions h on h.reference = p.payout_id::text and h.kind = 'hold'
left join payout_transfers t on t.payout_id = p.payout_id
left join payout_batches b on b.batch_no = t.batch_no
left join lateral (
  select max(x.at) as last_outcome_at from payout_transfer_events x where x.payout_id = p.payout_id and x.state like 'provider\_%'
) e on true
cross join age
where p.state not in ('paid', 'released', 'reversed')
  and (t.state is null or t.state not in ('review', 'awaiting_name'))
  and greatest(h.created_at, e.last_outcome_at) < now() - age.stale
order by h.created_at
