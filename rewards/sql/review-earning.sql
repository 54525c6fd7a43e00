-- Earning $1 (earning id) if it was ever held for review, locked: whether it is still undecided
-- (status 'review'), what approving it pays (the amounts decided when it was held) and the day its
-- campaign's daily cap counts it in.
select source_event_id, earning_id, user_id, campaign_id, status, amount_fen, fee_fen, day::text as day,
  (extract(epoch from verified_at) * 1000)::bigint as verified_ms
from earnings
where earning_id = $1::uuid and (status = 'review' or reviewed_at is not null)
for update
