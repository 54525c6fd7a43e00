-- The transactions already recorded under the idempotency keys $1, with their content hashes.
select idempotency_key, content_hash from transactions where idempotency_key = any ($1::text[])
