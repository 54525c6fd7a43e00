-- Opens the accounts ($1 types, $2 currencies, $3 owners) that do not exist yet, with their type's
-- normal side and overdraft rule and opening debits $4 and credits $5; returns those it created
-- (locked, as they are this transaction's).
insert into accounts (type, currency, owner, normal, no_overdraft, debits, credits)
select k.type, k.currency, k.owner, t.normal, t.no_overdraft, k.debits, k.credits
from unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) as k (type, currency, owner, debits, credits)
join account_types t using (type)
on conflict (type, currency, owner) do nothing
returning account_id, type, currency, owner, debits, credits
