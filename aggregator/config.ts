// The aggregator's configuration (README "Configuration"); keys are the env names.
import { z } from 'zod';
import { count, port, stackEnv } from '../common/config.js';
import { topics } from '../schemas/topics.js';

export const aggregatorConfig = z.object({
  ...stackEnv,
  AGGREGATOR_HOST: z.string().default('127.0.0.1'),
  AGGREGATOR_PORT: port(8083),
  AGGREGATOR_GROUP: z.string().min(1).default('aggregator'),
  AGGREGATOR_TOPIC: z.string().min(1).default(topics.beaconsAccepted.name),
  AGGREGATOR_CONFIRMATIONS_TOPIC: z.string().min(1).default(topics.confirmations.name),
  AGGREGATOR_EARNINGS_TOPIC: z.string().min(1).default(topics.earningsVerified.name),
  AGGREGATOR_DEADLETTER_TOPIC: z.string().min(1).default(topics.beaconsDeadLetter.name),
  AGGREGATOR_REDIS_PREFIX: z.string().default('agg:'),
  // The state of the partitions this process owns (one directory per process), and its changelog.
  AGGREGATOR_STATE_DIR: z.string().min(1).default('.state/aggregator'),
  AGGREGATOR_CHANGELOG_TOPIC: z.string().min(1).default(topics.aggregatorChangelog.name),
  AGGREGATOR_CLAIMS_SLICE_MS: count(3_600_000),
  AGGREGATOR_CLAIMS_FILTER_BYTES: count(32 * 1024 * 1024),
  AGGREGATOR_DEDUP_WINDOW_MS: count(7 * 86_400_000),
  AGGREGATOR_MAX_CLICKS_PER_DEVICE_HOUR: count(20),
  // The verification window of confirmations without a campaign (ad networks) and of campaigns without a row;
  // at most 7 days, as a campaign's (ads.unverified's bounds rely on it: migration 0004).
  AGGREGATOR_VERIFICATION_WINDOW_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 86_400_000)
    .default(3_600_000),
  AGGREGATOR_PAIRING_MARGIN_MS: count(86_400_000),
  AGGREGATOR_FLUSH_INTERVAL_MS: count(1_000),
  AGGREGATOR_FLUSH_LINGER_MS: count(50),
  AGGREGATOR_FLUSH_MAX_ROWS: count(20_000),
  AGGREGATOR_STEP_BYTES: count(2 * 1024 * 1024),
  AGGREGATOR_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6_000).default(30_000),
  AGGREGATOR_PARTITIONS_CONCURRENTLY: z.coerce.number().int().min(1).max(64).default(12),
  AGGREGATOR_FETCH_MAX_BYTES_PER_PARTITION: count(2 * 1024 * 1024),
  AGGREGATOR_FETCH_MAX_BYTES: count(12 * 1024 * 1024),
  AGGREGATOR_CAMPAIGN_REFRESH_MS: count(5_000),
  AGGREGATOR_STALL_AFTER_FAILURES: z.coerce.number().int().min(1).default(5),
});
export type AggregatorConfig = z.infer<typeof aggregatorConfig>;
