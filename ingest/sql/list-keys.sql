-- Every key with its app and state, for the collector's cache and `npm run apps -- list`.
select key_id, app_id, secret, created_at, revoked_at from app_keys order by app_id, created_at
