-- Each app's own secrets for minting user tokens (CONTRACTS.md §8: a token binds one person, (app,
-- user), which means something only if app A's backend cannot mint for app B). A user token verifies
-- with a live secret of the app its `app` claim names; several may be live at once (a rotation).
-- Revoking keeps the row for audit. REWARDS_TOKEN_SECRET stays the platform's own key, for every app.
create table app_token_secrets (
  secret_id bigserial primary key,
  app_id text not null references apps (app_id),
  secret text not null check (length(secret) >= 32),
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
create index app_token_secrets_app on app_token_secrets (app_id);

-- The rewards and payouts APIs cache these and reload on NOTIFY 'app_token_secrets', so a revoke
-- takes effect within moments, with no restart.
create function notify_app_token_secrets() returns trigger language plpgsql as $$
begin
  perform pg_notify('app_token_secrets', tg_op);
  return null;
end $$;

create trigger app_token_secrets_changed after insert or update or delete or truncate on app_token_secrets
  for each statement execute function notify_app_token_secrets();
