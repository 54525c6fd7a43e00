-- Every campaign with its owning app (null: unowned, earns nothing) and postback secret, for the
-- collector's cache (owned campaigns with a secret accept postbacks) and `npm run apps -- list`.
select campaign_id, app_id, postback_secret from campaigns order by app_id nulls first, campaign_id
