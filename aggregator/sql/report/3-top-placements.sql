-- top placements by clicks
SELECT placement_id, countIf(type = 'IMPRESSION') AS impressions, countIf(type = 'CLICK') AS clicks
FROM ads.events WHERE invalid_reason = '' GROUP BY placement_id ORDER BY clicks DESC, placement_id LIMIT 10
