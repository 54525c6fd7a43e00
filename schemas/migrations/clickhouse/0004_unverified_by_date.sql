-- ads.unverified, bounded by date: 0003's view compared every deadline with every verification ever
-- written (NOT IN over all of ads.verifications), so each read grew with the whole history. It now
-- lists what reached its deadline in the last 30 days, exactly, and reads only the partitions that can
-- hold those rows and their verifications. Older rows: query the tables with wider bounds.
-- Bounds, from rules enforced upstream: a verification window is at most 7 days (Postgres
-- campaigns.verification_window_s, AGGREGATOR_VERIFICATION_WINDOW_MS), so a row in range was received
-- at most 37 days ago; a verifications row is decided at or after the receipts it joins (decided_at,
-- since 0003: the later receipt; already_confirmed: the confirmation's receipt); the collector refuses
-- an event dated more than 7 days before its receipt (event_time partitions verification_deadlines).
-- The verifications bound has a day of slack, as now() may be read apart in each part of the query.
-- No query parameters (ClickHouse 18.16): the range is in the view. DROP TABLE drops a view on every
-- release (DROP VIEW is newer than 18.16).
-- Also from this release on (no schema change): ads.verifications has no more app_mismatch rows, as
-- the aggregator pairs within an app, and an already_confirmed row carries the confirmation's own
-- fields (event_id as it named it, event_type '', decided_at its receipt).
DROP TABLE IF EXISTS unverified;

CREATE VIEW IF NOT EXISTS unverified AS
SELECT
  'event' AS side, 'unconfirmed' AS reason, event_id, toString(event_type) AS event_type, '' AS source, '' AS transaction_id,
  app_id, user_id, campaign_id, received_at_ms, verify_by_ms
FROM verification_deadlines
WHERE invalid_reason = ''
  AND verify_by_ms < toUInt64(now()) * 1000
  AND verify_by_ms >= (toUInt64(now()) - 30 * 86400) * 1000
  AND event_time >= now() - 44 * 86400
  AND event_id NOT IN (SELECT event_id FROM verifications WHERE decided_at >= now() - 38 * 86400)
UNION ALL
SELECT
  'confirmation' AS side, 'no_matching_event' AS reason, event_id, '' AS event_type, source, transaction_id,
  app_id, user_id, campaign_id, received_at_ms, verify_by_ms
FROM confirmations
WHERE verify_by_ms < toUInt64(now()) * 1000
  AND verify_by_ms >= (toUInt64(now()) - 30 * 86400) * 1000
  AND received_at >= now() - 37 * 86400
  AND concat(source, ':', transaction_id) NOT IN
    (SELECT concat(source, ':', transaction_id) FROM verifications WHERE decided_at >= now() - 38 * 86400);
