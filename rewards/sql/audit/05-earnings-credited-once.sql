-- Each earning (source event) is credited at most once: every user reward posted by an earnings
-- transaction names one posted earning record of the same transaction, user and amount, and every
-- posted record is named by exactly one reward.
with rewards as (
  select p.transaction_id, coalesce(p.reference, t.reference) as earning_id, a.owner as user_id, p.credit as amount_fen
  from transactions t
  join postings p using (transaction_id)
  join accounts a using (account_id)
  where t.kind = 'earning' and a.type = 'user_available'
), posted as (
  select transaction_id, earning_id::text, user_id, amount_fen from earnings where status = 'posted'
)
-- A reward and its record that disagree stay two rows of the join, so an earning passes only as one
-- row holding both.
select earning_id as id, count(r.transaction_id) as rewards, count(e.transaction_id) as records, count(*) as rows
from rewards r full join posted e using (transaction_id, earning_id, user_id, amount_fen)
group by earning_id having count(*) <> 1 or count(r.transaction_id) <> 1 or count(e.transaction_id) <> 1
