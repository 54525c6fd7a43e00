-- Moves payout $1 to state $2 and records it in its history with detail $3 (jsonb).
with moved as (update payouts set state = $2, updated_at = now() where payout_id = $1::uuid returning payout_id)
insert into payout_events (payout_id, state, detail) select payout_id, $2, $3::jsonb from moved
