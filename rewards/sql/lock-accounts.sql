-- The accounts named by ($1 types, $2 currencies, $3 owners), locked in account_id order: every
-- writer locks in the same order, so two batches never wait on each other in a cycle.
select a.account_id, a.type, a.currency, a.owner, a.debits, a.credits
from accounts a
join unnest($1::text[], $2::text[], $3::text[]) as k (type, currency, owner) using (type, currency, owner)
order by a.account_id
for update of a
