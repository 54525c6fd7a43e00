-- New transactions: $1 idempotency keys, $2 kinds, $3 references, $4 content hashes.
insert into transactions (idempotency_key, kind, reference, content_hash)
select * from unnest($1::text[], $2::text[], $3::text[], $4::bytea[])
returning transaction_id, idempotency_key
