-- Every campaign's attribution settings, for the aggregator's cache (campaigns without a row use
-- the defaults of aggregator/attribution.ts, which equal the column defaults).
select campaign_id, click_lookback_s, view_window_s, completion_window_s, min_click_to_conversion_s from campaigns
