-- Revokes a network secret (idempotent: it keeps its first revocation time). Returns the row, if any.
-- $1 secret_id
update ad_network_secrets set revoked_at = coalesce(revoked_at, now()) where secret_id = $1
returning secret_id::text, network, app_id, revoked_at
