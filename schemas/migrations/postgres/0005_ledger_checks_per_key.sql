-- The postings check of 0003, with its lookups made once per account and once per transaction
-- instead of once per posting: a batch of earnings has three postings per transaction and posts to
-- few accounts more than it has users, so this is a third of the index probes. Same guarantees.
-- (A replaced function loses its settings, so it names enable_seqscan again.)
create or replace function postings_check() returns trigger language plpgsql set enable_seqscan = off as $$
declare
  bad bigint;
  present boolean;
begin
  select transaction_id into bad from new_postings group by transaction_id, currency
    having sum(debit) <> sum(credit) limit 1;
  if found then
    raise exception 'transaction % does not balance', bad using errcode = '23514';
  end if;
  select p.account_id into bad from (select distinct account_id, currency from new_postings) p
    where (select a.currency from accounts a where a.account_id = p.account_id) is distinct from p.currency
    limit 1;
  if found then
    raise exception 'account % is missing, or of another currency than its postings', bad using errcode = '23503';
  end if;
  -- Each transaction exists, and all of its postings arrive in this statement: one pass over them.
  select n.transaction_id, n.present into bad, present from (
    select g.transaction_id, g.k, (select t.transaction_id from transactions t where t.transaction_id = g.transaction_id) is not null as present
    from (select transaction_id, count(*) k from new_postings group by 1) g
  ) n
  where not n.present or n.k <> (select count(*) from postings p where p.transaction_id = n.transaction_id)
  limit 1;
  if found and not present then
    raise exception 'transaction % does not exist: write a transaction and its postings in one statement', bad using errcode = '23503';
  elsif found then
    raise exception 'transaction % already has postings: transactions are immutable', bad using errcode = '23514';
  end if;
  return null;
end $$;
