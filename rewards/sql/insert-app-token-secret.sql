-- Issues a user-token secret for an app; no row when the app is unknown (nothing is inserted).
-- $1 app_id, $2 secret (base64url of 32 random bytes)
insert into app_token_secrets (app_id, secret) select app_id, $2 from apps where app_id = $1
returning secret_id::text
