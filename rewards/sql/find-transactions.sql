-- The transactions already recorded under the idempotency keys $1, with their content hashes and references.
select idempotency_key, content_hash, reference from transactions where idempotency_key = any ($1::text[])
