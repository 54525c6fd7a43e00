-- Revokes a user-token secret (idempotent: it keeps its first revocation time). Returns the row, if any.
-- $1 secret_id
update app_token_secrets set revoked_at = coalesce(revoked_at, now()) where secret_id = $1
returning secret_id::text, app_id, revoked_at
