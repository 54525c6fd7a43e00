-- Payout requests the payouts service has not taken up yet (re-enqueued in case a hand-off was lost):
-- requested, and not in its payouts_taken_up view.
select payout_id from payouts p
where state = 'requested' and not exists (select 1 from payouts_taken_up u where u.payout_id = p.payout_id)
order by created_at limit $1
