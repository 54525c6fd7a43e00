-- Serialises batches that count the same devices against the device limit: transaction-scoped
-- advisory locks on $1 (bigint keys, one per app and device), taken in key order before any row lock,
-- so two batches never wait on each other in a cycle.
select count(pg_advisory_xact_lock(k)) from (select distinct unnest($1::bigint[]) as k order by 1) keys
