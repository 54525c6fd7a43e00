-- Every campaign's attribution settings, owner and verification window, for the aggregator's cache
-- (campaigns without a row use the defaults of aggregator/attribution.ts, which equal the column
-- defaults, and AGGREGATOR_VERIFICATION_WINDOW_MS).
select campaign_id, click_lookback_s, view_window_s, completion_window_s, min_click_to_conversion_s, app_id, verification_window_s
from campaign_attribution
