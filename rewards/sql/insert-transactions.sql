-- New transactions with their postings, in one statement (the database's checks require it):
-- $1 idempotency keys, $2 kinds, $3 references, $4 content hashes; then one entry per posting:
-- $5 its transaction's idempotency key, $6 account ids, $7 currencies, $8 debits, $9 credits,
-- $10 references (null: its transaction's).
-- Returns each new transaction's id.
with created as (
  insert into transactions (idempotency_key, kind, reference, content_hash)
  select * from unnest($1::text[], $2::text[], $3::text[], $4::bytea[])
  returning transaction_id, idempotency_key
), posted as (
  insert into postings (transaction_id, account_id, currency, debit, credit, reference)
  select c.transaction_id, p.account_id, p.currency, p.debit, p.credit, p.reference
  from unnest($5::text[], $6::bigint[], $7::text[], $8::bigint[], $9::bigint[], $10::text[])
    as p (idempotency_key, account_id, currency, debit, credit, reference)
  join created c using (idempotency_key)
)
select transaction_id, idempotency_key from created
