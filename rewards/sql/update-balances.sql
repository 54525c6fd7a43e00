-- Adds the batch's postings to the materialised balances: $1 account ids, $2 debits, $3 credits
-- (one entry per account).
update accounts a set debits = a.debits + d.debits, credits = a.credits + d.credits
from unnest($1::bigint[], $2::bigint[], $3::bigint[]) as d (account_id, debits, credits)
where a.account_id = d.account_id
