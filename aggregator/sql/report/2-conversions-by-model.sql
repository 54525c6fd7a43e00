-- conversions by campaign, by attribution model
SELECT campaign_id, model, count() AS conversions, round(avg(lag_ms) / 60000, 1) AS avg_lag_min
FROM ads.attributions WHERE event_type = 'CONVERSION' AND invalid_reason = '' GROUP BY campaign_id, model ORDER BY conversions DESC, campaign_id, model
