-- Campaigns and their attribution settings (aggregator/). A campaign without a row uses the
-- defaults below, which follow the large MMPs: 7-day click lookback, 24-hour view-through window.
-- The rewards service adds its reward rules to this table. Every change notifies 'campaigns', so
-- running aggregators reload within moments.
create table campaigns (
  campaign_id text primary key check (length(campaign_id) between 1 and 64),
  click_lookback_s integer not null default 604800 check (click_lookback_s between 3600 and 2592000),
  view_window_s integer not null default 86400 check (view_window_s between 0 and 604800),
  completion_window_s integer not null default 1800 check (completion_window_s between 60 and 86400),
  min_click_to_conversion_s integer not null default 10 check (min_click_to_conversion_s >= 0),
  updated_at timestamptz not null default now()
);

create function notify_campaigns() returns trigger language plpgsql as $$
begin
  perform pg_notify('campaigns', coalesce(new.campaign_id, old.campaign_id));
  return null;
end $$;

create trigger campaigns_notify after insert or update or delete on campaigns
  for each row execute function notify_campaigns();
