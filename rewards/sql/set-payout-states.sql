-- Moves payouts $1 (uuid[]) to states $2 and records each in its history with detail $3 (jsonb).
-- Only forward: paid and released from requested, reversed from paid (a trigger refuses any other
-- move too). A payout in another state is not moved (the caller counts the rows and refuses a mismatch).
with moved as (
  update payouts p set state = s.state, updated_at = now()
  from unnest($1::uuid[], $2::text[]) as s(payout_id, state)
  where p.payout_id = s.payout_id
    and ((s.state in ('paid', 'released') and p.state = 'requested') or (s.state = 'reversed' and p.state = 'paid'))
  returning p.payout_id, s.state
)
insert into payout_events (payout_id, state, detail) select payout_id, state, $3::jsonb from moved
