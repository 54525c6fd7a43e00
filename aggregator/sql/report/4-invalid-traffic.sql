-- invalid-traffic share, by reason
SELECT invalid_reason, count() AS events, round(count() / (SELECT count() FROM ads.events), 4) AS share
FROM ads.events GROUP BY invalid_reason ORDER BY events DESC, invalid_reason
