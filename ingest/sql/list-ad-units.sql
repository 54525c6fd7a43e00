-- Every registered ad unit with its app and campaign (null: registered before migration 0011, its
-- callbacks refused until registered again with one), for the collector's cache and `npm run apps -- list`.
select network, ad_unit, app_id, campaign_id, created_at from ad_units order by app_id, network, ad_unit
