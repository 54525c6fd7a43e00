-- Gives a campaign to an app: creates it with that app and postback secret $3, assigns an unowned
-- (pre-migration) one, and gives a secret to one of the same app that has none. Returns the
-- campaign's owner and secret as they now are: another app as owner means it was refused.
-- $1 campaign_id, $2 app_id, $3 a new postback secret (hex)
with done as (
  insert into campaigns (campaign_id, app_id, postback_secret) values ($1, $2, $3)
  on conflict (campaign_id) do update
    set app_id = excluded.app_id, postback_secret = coalesce(campaigns.postback_secret, excluded.postback_secret), updated_at = now()
    where campaigns.app_id is null or (campaigns.app_id = excluded.app_id and campaigns.postback_secret is null)
  returning app_id, postback_secret
)
select app_id, postback_secret from done
union all
select app_id, postback_secret from campaigns where campaign_id = $1 and not exists (select 1 from done)
