// The rewards service's configuration (README "Configuration"); keys are the env names. The secrets
// default to development values so the local stack runs as is; main.ts refuses them unless DEV_MODE=true.
import { z } from 'zod';
import { count, devSecrets, fenAmount, port, sharedSecrets, stackEnv, type SecretRule } from '../common/config.js';
import { TOKEN_MAX_TTL_S } from '../common/auth.js';
import { defaultHttpLimits } from '../common/http-limits.js';
import { fen } from '../common/money.js';
import { topics } from '../schemas/topics.js';

/** A fen amount that may be left unset (null: no limit); an empty value is unset too. */
const optionalFen = z
  .preprocess((v) => (v === '' ? undefined : v), z.coerce.bigint().min(1n).optional())
  .transform((v) => (v === undefined ? null : fen(v)));

export const rewardsConfig = z.object({
  ...stackEnv,
  REWARDS_HOST: z.string().default('127.0.0.1'),
  REWARDS_PORT: port(8081),
  REWARDS_OPS_HOST: z.string().default('127.0.0.1'),
  REWARDS_OPS_PORT: port(9081),
  REWARDS_HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1).default(defaultHttpLimits.requestTimeoutMs),
  REWARDS_HTTP_KEEPALIVE_TIMEOUT_MS: z.coerce.number().int().min(1).default(defaultHttpLimits.keepAliveTimeoutMs),
  REWARDS_HTTP_IDLE_TIMEOUT_MS: z.coerce.number().int().min(1).default(defaultHttpLimits.idleTimeoutMs),
  REWARDS_HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(defaultHttpLimits.maxConnections),
  REWARDS_TOKEN_MAX_TTL_S: z.coerce.number().int().min(1).default(TOKEN_MAX_TTL_S),
  // The apps' user-token secrets are reloaded on NOTIFY, and every this often in case one was missed.
  REWARDS_TOKEN_SECRETS_REFRESH_MS: z.coerce.number().int().min(100).default(5_000),
  REWARDS_GROUP: z.string().min(1).default('rewards'),
  REWARDS_TOPIC: z.string().min(1).default(topics.earningsVerified.name),
  REWARDS_DEADLETTER_TOPIC: z.string().min(1).default(topics.earningsDeadLetter.name),
  REWARDS_BATCH_MAX: z.coerce.number().int().min(1).max(10_000).default(2_000),
  REWARDS_PARTITIONS_CONCURRENTLY: z.coerce.number().int().min(1).max(64).default(3),
  REWARDS_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6_000).default(30_000),
  REWARDS_PG_POOL: z.coerce.number().int().min(2).max(100).default(8),
  REWARDS_CURRENCY: z
    .string()
    .regex(/^[A-Z]{3}$/)
    .default('CNY'),
  REWARDS_PAYOUT_THRESHOLD_FEN: fenAmount(100),
  REWARDS_MIN_WITHDRAWAL_FEN: fenAmount(100),
  // Platform-wide daily earning limits (unset: none): past one, an earning is held for review.
  REWARDS_USER_DAILY_LIMIT_FEN: optionalFen,
  REWARDS_DEVICE_DAILY_LIMIT_FEN: optionalFen,
  // The zone the money day is counted in (daily caps and limits), minutes east of UTC: China time.
  REWARDS_MONEY_TIMEZONE_OFFSET_MIN: z.coerce.number().int().min(-720).max(840).default(480),
  REWARDS_PAYOUT_QUEUE_PREFIX: z.string().default('bull'),
  REWARDS_REQUEUE_INTERVAL_MS: count(30_000),
  REWARDS_STALL_AFTER_FAILURES: z.coerce.number().int().min(1).default(5),
  ...sharedSecrets,
  REWARDS_OPERATOR_TOKEN: z.string().min(16).default(devSecrets.REWARDS_OPERATOR_TOKEN),
  WECHAT_OAUTH_URL: z.url().default('http://127.0.0.1:8090'),
  WECHAT_APPID: z.string().min(1).default('wxd0000000sandbox'),
  WECHAT_APP_SECRET: z.string().min(1).default(devSecrets.WECHAT_APP_SECRET),
  WECHAT_TIMEOUT_MS: count(5_000),
});
export type RewardsConfig = z.infer<typeof rewardsConfig>;

/** The published secrets rewards refuses outside development mode; the sandbox's app secret works only against a loopback WECHAT_OAUTH_URL. */
export const rewardsSecretRule = (c: RewardsConfig): SecretRule => ({
  devMode: c.DEV_MODE,
  published: devSecrets,
  loopbackOnly: { urlKey: 'WECHAT_OAUTH_URL', keys: ['WECHAT_APP_SECRET'] },
});
