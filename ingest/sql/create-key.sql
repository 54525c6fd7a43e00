-- Registers the app if new and issues a signing key for it.
-- $1 app_id, $2 key_id, $3 secret (hex)
with app as (insert into apps (app_id) values ($1) on conflict (app_id) do nothing)
insert into app_keys (key_id, app_id, secret) values ($2, $1, $3)
