-- Issues a secret for an HMAC-signing ad network and an app. Returns its id.
-- $1 network, $2 app_id, $3 secret (hex)
insert into ad_network_secrets (network, app_id, secret) values ($1, $2, $3) returning secret_id::text
