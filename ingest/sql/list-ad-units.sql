-- Every registered ad unit and the app it belongs to, for the collector's cache and `npm run apps -- list`.
select network, ad_unit, app_id, created_at from ad_units order by app_id, network, ad_unit
