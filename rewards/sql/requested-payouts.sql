-- Payout requests still waiting for the payouts service (re-enqueued in case a hand-off was lost).
select payout_id from payouts where state = 'requested' order by created_at limit $1
