-- Every HMAC network secret with its (network, app) and state, for the collector's cache (unrevoked
-- ones verify) and `npm run apps -- list` (which does not print the secret).
select secret_id::text, network, app_id, secret, created_at, revoked_at from ad_network_secrets order by app_id, network, secret_id
