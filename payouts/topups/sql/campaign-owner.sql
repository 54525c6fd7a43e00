-- Campaign $1's advertiser; no row when none is bound (or there is no such campaign).
select advertiser_id from campaign_advertisers where campaign_id = $1
