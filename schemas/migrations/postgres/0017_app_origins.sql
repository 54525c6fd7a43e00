-- The web origins an app's pages post beacons from (`npm run apps -- origin`; ingest/ owns it). The
-- collector answers a browser's CORS preflight from a registered origin, and refuses a beacon sent
-- by a page of an origin its app has not registered. A filter, not a defence: a program sends any
-- Origin header it likes. Every change notifies 'beacon_keys', so running collectors reload.
create table app_origins (
  app_id text not null references apps,
  origin text not null check (origin ~ '^https?://[a-z0-9.:\[\]-]{1,253}$'),
  created_at timestamptz not null default now(),
  primary key (app_id, origin)
);

create function notify_app_origins() returns trigger language plpgsql as $$
begin
  perform pg_notify('beacon_keys', coalesce(new.app_id, old.app_id));
  return null;
end $$;
create trigger app_origins_notify after insert or update or delete on app_origins
  for each row execute function notify_app_origins();
