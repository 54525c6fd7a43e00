-- One owner per table for campaigns. Until now ingest/ (`npm run apps -- campaign`: the app and the
-- postback secret) and rewards/ (`npm run rewards -- advertiser | end`: the advertiser and the end)
-- both wrote campaigns. From here:
-- - ingest/ owns campaigns: which app a campaign belongs to, its postback secret, its attribution
--   and verification windows (set by an operator's SQL; the defaults suit most).
-- - rewards/ owns campaign_funding: the advertiser who pays for a campaign, and when it ended (its
--   unspent budget may be refunded from then on).
-- - The other services read them only through the views below.

create table campaign_funding (
  campaign_id text primary key check (length(campaign_id) between 1 and 64),
  advertiser_id text not null references advertisers,
  ends_at timestamptz,
  updated_at timestamptz not null default now()
);

-- An end without an advertiser funded nothing and can refund nothing: it is not carried over.
insert into campaign_funding (campaign_id, advertiser_id, ends_at, updated_at)
select campaign_id, advertiser_id, ends_at, updated_at from campaigns where advertiser_id is not null;

-- Money in and out of a campaign needs its advertiser: the keys follow the advertiser to its table.
alter table topup_orders drop constraint topup_orders_campaign_id_fkey,
  add constraint topup_orders_campaign_id_fkey foreign key (campaign_id) references campaign_funding;
alter table campaign_refunds drop constraint campaign_refunds_campaign_id_fkey,
  add constraint campaign_refunds_campaign_id_fkey foreign key (campaign_id) references campaign_funding;

alter table campaigns drop column advertiser_id, drop column ends_at;

-- What the aggregator reads of ingest's campaigns: how to attribute and verify a campaign's events.
create view campaign_attribution as
select campaign_id, app_id, click_lookback_s, view_window_s, completion_window_s, min_click_to_conversion_s,
  verification_window_s
from campaigns;

-- What rewards/ reads of ingest's campaigns: the app each belongs to (null: unowned, earns nothing).
create view campaign_apps as select campaign_id, app_id from campaigns;

-- What payouts/ reads of rewards' campaign_funding: who pays for a campaign's top-ups.
create view campaign_advertisers as select campaign_id, advertiser_id from campaign_funding;
