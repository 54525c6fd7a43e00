-- Adds a batch's postings to the materialised balances of existing accounts: $1 types, $2 currencies,
-- $3 owners, $4 debits, $5 credits (one entry per account, sorted by type, currency, owner, so that
-- concurrent writers take row locks in the same order). Returns the ids of the accounts updated.
update accounts a set debits = a.debits + k.debits, credits = a.credits + k.credits
from (select * from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) with ordinality as k (type, currency, owner, debits, credits, n) order by n) k
where (a.type, a.currency, a.owner) = (k.type, k.currency, k.owner)
returning a.account_id, a.type, a.currency, a.owner
