-- Every origin an app registered, for the collector's cache and `npm run apps -- list`.
select app_id, origin from app_origins order by app_id, origin
