-- Campaign $1's advertiser (null: none bound); no row when there is no such campaign.
select advertiser_id from campaigns where campaign_id = $1
