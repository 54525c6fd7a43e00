-- The accounts named by ($1 types, $2 currencies, $3 owners), read without locking them.
select a.account_id, a.type, a.currency, a.owner, a.debits, a.credits
from accounts a
join unnest($1::text[], $2::text[], $3::text[]) as k (type, currency, owner) using (type, currency, owner)
