-- Apps and their beacon signing keys (ingest/). A key belongs to exactly one app. Revoking a key
-- keeps its row for audit. Every change notifies channel 'beacon_keys', so running collectors
-- reload their key cache within moments and need no restart.
create table apps (
  app_id text primary key check (app_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
  created_at timestamptz not null default now()
);

create table app_keys (
  key_id text primary key,
  app_id text not null references apps (app_id),
  secret text not null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
create index app_keys_app_id on app_keys (app_id);

create function notify_beacon_keys() returns trigger language plpgsql as $$
begin
  perform pg_notify('beacon_keys', coalesce(new.key_id, old.key_id));
  return null;
end $$;

create trigger app_keys_changed after insert or update or delete on app_keys
  for each row execute function notify_beacon_keys();
