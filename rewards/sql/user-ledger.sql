-- The person $1's (<app_id>:<user_id>) ledger entries, newest first: postings on their accounts older than posting $2
-- (null for the newest), at most $3.
select p.posting_id, a.type as account, a.currency, p.debit, p.credit, t.kind, coalesce(p.reference, t.reference) as reference, t.created_at
from accounts a
join postings p on p.account_id = a.account_id
join transactions t on t.transaction_id = p.transaction_id
where a.owner = $1 and a.type in ('user_available', 'user_held', 'payout_clearing')
  and ($2::bigint is null or p.posting_id < $2::bigint)
order by p.posting_id desc
limit $3
