-- Stores person $1's (<app_id>:<user_id>) real name, $2 sealed (common/secretbox.ts), given at $3 (ms),
-- beside their WeChat link. No row without a link: the name belongs to that WeChat account
-- (upsert-link.sql forgets it when the link moves to another openid).
update wechat_links set real_name_enc = $2, real_name_at = to_timestamp($3 / 1000.0)
where user_id = $1
returning real_name_at
