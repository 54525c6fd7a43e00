-- Campaign $1's owner and end, for the API and the refund check.
select campaign_id, advertiser_id, ends_at from campaigns where campaign_id = $1
