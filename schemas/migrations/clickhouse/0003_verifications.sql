-- Server-to-server verification (CONTRACTS.md §7): the confirmations the collector verified, how
-- each pair of a rewardable event and its confirmation was decided, and what is still unmatched
-- past its deadline. The aggregator fills the tables exactly once (aggregator/README.md, "The join").
-- Runs on ClickHouse 18.16 and current releases: no DateTime64, no query parameters. Times are
-- unix ms (UInt64) beside a DateTime in seconds that partitions the table.

-- One row per confirmation, each (source, transaction_id) once. verify_by_ms: its receipt plus the
-- verification window (the postback's campaign's; the default for ad networks).
CREATE TABLE IF NOT EXISTS confirmations (
  source String,                   -- 'admob', an HMAC network's name, or 'postback'
  transaction_id String,
  app_id String,
  user_id String,
  campaign_id String,              -- postbacks; '' for ad networks
  event_id String,                 -- the event it names ('' when it names a click)
  click_id String,
  received_at DateTime('UTC'),     -- collector clock
  received_at_ms UInt64,
  occurred_at Int64,               -- the sender's clock, unix ms, as sent
  key_id String,
  ad_unit String,
  reward_item String,
  reward_amount Int64,
  value_micros Int64,
  currency String,
  verify_by_ms UInt64
) ENGINE = MergeTree
PARTITION BY toDate(received_at)
ORDER BY (source, transaction_id);

-- One row per confirmation that met an event (or met one already confirmed by another): reason ''
-- earns (exactly one VerifiedEarning); else type_mismatch, the event's invalid_reason,
-- not_attributed, app_mismatch, user_mismatch, campaign_mismatch, confirmation_late or
-- already_confirmed. app_id, user_id and campaign_id are the event's (the confirmation's when no
-- event met it). decided_at: the later of the two receipts (collector clock), the earning's verified_at.
CREATE TABLE IF NOT EXISTS verifications (
  event_id String,
  event_type String,               -- 'REWARD_COMPLETE', 'CONVERSION', or '' (no event met it)
  source String,
  transaction_id String,
  app_id String,
  user_id String,
  campaign_id String,
  event_received_at_ms UInt64,     -- 0 when no event met it
  confirmed_at_ms UInt64,
  decided_at DateTime('UTC'),
  reason String
) ENGINE = MergeTree
PARTITION BY toDate(decided_at)
ORDER BY (event_id, source, transaction_id);

-- verify_by_ms of each ads.attributions row of a REWARD_COMPLETE or CONVERSION: its receipt plus its
-- campaign's verification window. A table of its own because ClickHouse 18.16 has no
-- `ADD COLUMN IF NOT EXISTS` (a syntax error there), and every statement here must be safe to run
-- again; inserted with the attributions row, exactly once like it.
CREATE TABLE IF NOT EXISTS verification_deadlines (
  event_id String,
  event_type Enum8('REWARD_COMPLETE' = 4, 'CONVERSION' = 5),
  app_id String,
  user_id String,
  campaign_id String,
  event_time DateTime('UTC'),      -- as in attributions: partitions and bounds lookups
  received_at_ms UInt64,
  verify_by_ms UInt64,
  invalid_reason String
) ENGINE = MergeTree
PARTITION BY toDate(event_time)
ORDER BY (event_id);

-- What nothing matched by its deadline, computed when read (exact, no timers): valid attributed
-- rewardable events without a verifications row ('unconfirmed': they earn nothing), and
-- confirmations without one ('no_matching_event'). A row leaves the view if a late match is decided.
CREATE VIEW IF NOT EXISTS unverified AS
SELECT
  'event' AS side, 'unconfirmed' AS reason, event_id, toString(event_type) AS event_type, '' AS source, '' AS transaction_id,
  app_id, user_id, campaign_id, received_at_ms, verify_by_ms
FROM verification_deadlines
WHERE invalid_reason = '' AND verify_by_ms < toUInt64(now()) * 1000
  AND event_id NOT IN (SELECT event_id FROM verifications)
UNION ALL
SELECT
  'confirmation' AS side, 'no_matching_event' AS reason, event_id, '' AS event_type, source, transaction_id,
  app_id, user_id, campaign_id, received_at_ms, verify_by_ms
FROM confirmations
WHERE verify_by_ms < toUInt64(now()) * 1000
  AND concat(source, ':', transaction_id) NOT IN (SELECT concat(source, ':', transaction_id) FROM verifications);
