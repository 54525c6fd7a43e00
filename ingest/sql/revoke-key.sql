-- Revokes a key (idempotent: a revoked key keeps its first revocation time). Returns the row, if any.
-- $1 key_id
update app_keys set revoked_at = coalesce(revoked_at, now()) where key_id = $1 returning key_id, app_id, revoked_at
