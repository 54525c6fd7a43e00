-- Links person $1 (<app_id>:<user_id>) to WeChat: $2 appid, $3 openid MAC, $4..$6 encrypted openid, access and refresh
-- tokens, $7 scope, $8 token expiry (ms). Relinking the same person replaces the link; an openid links one person.
-- The real name given for the link (set-real-name.sql) is kept only while the openid stays the same.
insert into wechat_links (user_id, appid, openid_mac, openid_enc, access_token_enc, refresh_token_enc, scope, token_expires_at)
values ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8 / 1000.0))
on conflict (user_id) do update set appid = excluded.appid, openid_mac = excluded.openid_mac, openid_enc = excluded.openid_enc,
  access_token_enc = excluded.access_token_enc, refresh_token_enc = excluded.refresh_token_enc, scope = excluded.scope,
  token_expires_at = excluded.token_expires_at, linked_at = now(),
  real_name_enc = case when wechat_links.openid_mac = excluded.openid_mac then wechat_links.real_name_enc end,
  real_name_at = case when wechat_links.openid_mac = excluded.openid_mac then wechat_links.real_name_at end
