-- The app that owns a campaign (no row: no such campaign; null app_id: unowned), checked before an
-- ad unit is bound to it.
-- $1 campaign_id
select app_id from campaigns where campaign_id = $1
