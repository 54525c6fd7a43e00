-- Earnings held for review and not yet decided, oldest first, at most $1: what an operator decides
-- on (`npm run rewards -- review list`).
select earning_id, user_id, campaign_id, reason, amount_fen, fee_fen, day::text as day, verified_at
from earnings
where status = 'review'
order by verified_at, earning_id
limit $1
