-- Campaign $1's owner and end, for the API and the refund check: a campaign known to ingest (its
-- app's) or to rewards (its advertiser's); advertiser and end are null until an advertiser is bound.
select k.campaign_id, f.advertiser_id, f.ends_at
from (values ($1::text)) as k (campaign_id)
left join campaign_funding f using (campaign_id)
where f.campaign_id is not null or exists (select from campaign_apps a where a.campaign_id = k.campaign_id)
