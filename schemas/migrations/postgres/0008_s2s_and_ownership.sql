-- Server-to-server verification and ownership (CONTRACTS.md §7-§8). A campaign belongs to one app,
-- and holds the secret its advertiser signs conversion postbacks with. Ad networks that sign with a
-- shared secret have one per network and app; AdMob signs with Google's keys, so its ad units are
-- registered to apps (a Google-signed callback for someone else's ad unit confirms nothing here).
-- Existing campaigns keep app_id null: unowned, so their events earn nothing until an operator
-- assigns them (`npm run apps -- campaign <campaign_id> <app_id>`); that is the migration rule.
alter table campaigns
  add column app_id text references apps (app_id),
  add column postback_secret text,
  add column verification_window_s integer not null default 3600 check (verification_window_s between 60 and 604800);
create index campaigns_app on campaigns (app_id);

create table ad_network_secrets (
  secret_id bigserial primary key,
  network text not null check (network ~ '^[a-z0-9_-]{1,32}$' and network <> 'admob'),
  app_id text not null references apps (app_id),
  secret text not null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
create index ad_network_secrets_network_app on ad_network_secrets (network, app_id);

create table ad_units (
  network text not null check (network ~ '^[a-z0-9_-]{1,32}$'),
  ad_unit text not null check (length(ad_unit) between 1 and 128),
  app_id text not null references apps (app_id),
  created_at timestamptz not null default now(),
  primary key (network, ad_unit)
);

-- Collectors cache these (as they do beacon keys) and reload on NOTIFY 's2s_keys'.
create function notify_s2s_keys() returns trigger language plpgsql as $$
begin
  perform pg_notify('s2s_keys', tg_table_name);
  return null;
end $$;

create trigger ad_network_secrets_changed after insert or update or delete on ad_network_secrets
  for each statement execute function notify_s2s_keys();
create trigger ad_units_changed after insert or update or delete on ad_units
  for each statement execute function notify_s2s_keys();
create trigger campaigns_s2s_changed after insert or update or delete on campaigns
  for each statement execute function notify_s2s_keys();
