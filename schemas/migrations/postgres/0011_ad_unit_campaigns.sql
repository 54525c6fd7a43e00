-- An ad network's confirmation names the event (custom_data) but the client chose that event's
-- campaign: without a campaign of its own, a real rewarded watch could pay under a better-paying
-- campaign of the same app. So each ad unit is bound to one campaign of its app, and its callbacks
-- confirm only events of that campaign (aggregator/matching.ts, campaign_mismatch).
-- Migration rule: units registered before this have no campaign, and their callbacks are refused
-- (403 ad_unit_without_campaign; nothing is recorded, a network's retry may be) until an operator
-- registers them again with one (`npm run apps -- ad-unit <network> <ad_unit> <app_id> <campaign_id>`).
alter table campaigns add constraint campaigns_campaign_app unique (campaign_id, app_id);

-- The campaign must be one of the unit's app: the pair is a foreign key (checked only when
-- campaign_id is set), so neither a unit nor its campaign can move to another app under the other.
alter table ad_units
  add column campaign_id text,
  add constraint ad_units_campaign_of_app foreign key (campaign_id, app_id) references campaigns (campaign_id, app_id);
create index ad_units_campaign on ad_units (campaign_id, app_id); -- for the key's checks when a campaign changes
