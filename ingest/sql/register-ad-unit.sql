-- Registers an ad unit of a network to an app and binds it to one of the app's campaigns, whose
-- events alone its callbacks confirm. Again for the same app it may change the campaign; a unit of
-- another app is left as it is. Returns the unit's owner and campaign as they now are: another app
-- means it was refused. The foreign key (campaign_id, app_id) refuses a campaign of another app.
-- $1 network, $2 ad_unit, $3 app_id, $4 campaign_id
with done as (
  insert into ad_units (network, ad_unit, app_id, campaign_id) values ($1, $2, $3, $4)
  on conflict (network, ad_unit) do update set campaign_id = excluded.campaign_id where ad_units.app_id = excluded.app_id
  returning app_id, campaign_id
)
select app_id, campaign_id from done
union all
select app_id, campaign_id from ad_units where network = $1 and ad_unit = $2 and not exists (select 1 from done)
