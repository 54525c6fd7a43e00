-- CTR and conversion rate by campaign and hour
SELECT hour, campaign_id, impressions, clicks, conversions, round(clicks / impressions, 4) AS ctr, if(clicks > 0, round(conversions / clicks, 4), 0) AS conversion_rate
FROM ads.campaign_hourly WHERE impressions > 0 ORDER BY hour DESC, campaign_id
