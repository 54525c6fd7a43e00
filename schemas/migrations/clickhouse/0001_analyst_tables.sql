-- The analyst interface (CONTRACTS.md §2). Runs on ClickHouse 18.16 and on current releases:
-- no DateTime64, no Map, no LowCardinality, no query parameters. Tables are named without a
-- database; the migrator runs with the configured database (default `ads`) selected.

-- One row per accepted event after deduplication (the aggregator inserts each event_id once).
CREATE TABLE IF NOT EXISTS events (
  event_id String,
  type Enum8('IMPRESSION' = 1, 'VIEWABLE' = 2, 'CLICK' = 3, 'REWARD_COMPLETE' = 4, 'CONVERSION' = 5),
  occurred_at UInt64,              -- device clock, unix ms, as sent
  event_time DateTime('UTC'),      -- occurred_at corrected for the device's clock skew
  event_time_ms UInt64,
  received_at DateTime('UTC'),     -- collector clock
  received_at_ms UInt64,
  app_id String,
  sdk String,
  user_id String,
  device_id String,
  campaign_id String,
  creative_id String,
  placement_id String,
  click_id String,
  value_micros UInt64,
  currency String,
  attrs Nested(key String, value String),
  ip_hash String,
  ua_class String,
  country String,
  invalid_reason String            -- '' when valid; else why (bot_user_agent, click_injection, ...)
) ENGINE = MergeTree
PARTITION BY toDate(event_time)
ORDER BY (campaign_id, event_time, event_id);

-- One row per attributed CONVERSION (to a click or an impression) or verified REWARD_COMPLETE
-- (to the impression that preceded it).
CREATE TABLE IF NOT EXISTS attributions (
  event_id String,
  event_type Enum8('REWARD_COMPLETE' = 4, 'CONVERSION' = 5),
  attributed_to String,
  campaign_id String,
  user_id String,
  app_id String,
  model Enum8('click' = 1, 'view' = 2),
  lag_ms Int64,
  event_time DateTime('UTC'),
  invalid_reason String
) ENGINE = MergeTree
PARTITION BY toDate(event_time)
ORDER BY (campaign_id, event_time, event_id);

-- campaign_hourly: partial aggregates kept by a materialized view of `events`, merged by the view
-- below, so readers get exact figures without FINAL or OPTIMIZE. Counts are of valid events only
-- (invalid_reason = ''); invalid traffic is in `events`.
CREATE TABLE IF NOT EXISTS campaign_hourly_state (
  hour DateTime('UTC'),
  campaign_id String,
  impressions AggregateFunction(sum, UInt64),
  viewables AggregateFunction(sum, UInt64),
  clicks AggregateFunction(sum, UInt64),
  completions AggregateFunction(sum, UInt64),
  conversions AggregateFunction(sum, UInt64),
  revenue_micros AggregateFunction(sum, UInt64),
  users AggregateFunction(uniqExact, String)
) ENGINE = AggregatingMergeTree
PARTITION BY toDate(hour)
ORDER BY (campaign_id, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_hourly_mv TO campaign_hourly_state AS
SELECT
  toStartOfHour(event_time) AS hour,
  campaign_id,
  sumState(toUInt64(type = 'IMPRESSION')) AS impressions,
  sumState(toUInt64(type = 'VIEWABLE')) AS viewables,
  sumState(toUInt64(type = 'CLICK')) AS clicks,
  sumState(toUInt64(type = 'REWARD_COMPLETE')) AS completions,
  sumState(toUInt64(type = 'CONVERSION')) AS conversions,
  sumState(if(type = 'CONVERSION', value_micros, toUInt64(0))) AS revenue_micros,
  uniqExactState(user_id) AS users
FROM events
WHERE invalid_reason = ''
GROUP BY hour, campaign_id;

CREATE VIEW IF NOT EXISTS campaign_hourly AS
SELECT
  hour,
  campaign_id,
  sumMerge(impressions) AS impressions,
  sumMerge(viewables) AS viewables,
  sumMerge(clicks) AS clicks,
  sumMerge(completions) AS completions,
  sumMerge(conversions) AS conversions,
  sumMerge(revenue_micros) AS revenue_micros,
  uniqExactMerge(users) AS users
FROM campaign_hourly_state
GROUP BY hour, campaign_id;
