-- Every live (non-revoked) user-token secret, by app: what a user token may be signed with.
select app_id, secret from app_token_secrets where revoked_at is null order by app_id, secret_id
