// Schema-validated configuration. Each service's main.ts parses its env once with loadConfig; keys
// equal env names, and a bad value fails at start with a message naming the key.
import { z } from 'zod';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig<S extends z.ZodObject>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}

const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

/** Connection settings shared by every service; defaults are the local stack's (CONTRACTS.md §6). */
export const stackEnv = {
  KAFKA_BROKERS: list.default(['127.0.0.1:19092']),
  CLICKHOUSE_URL: z.url().default('http://127.0.0.1:18123'),
  CLICKHOUSE_DATABASE: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).default('ads'),
  DATABASE_URL: z.url().default('postgres://ads:ads@127.0.0.1:15432/ads'),
  REDIS_URL: z.url().default('redis://127.0.0.1:16379'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/** The same Postgres server URL with another database (e.g. 'postgres' to create or drop one). */
export const withDatabase = (url: string, database: string): string =>
  Object.assign(new URL(url), { pathname: `/${database}` }).href;

/** A non-negative integer (a count, a size, a duration in ms). */
export const count = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

/** A TCP port; 0 asks the OS for a free one (tests, benchmarks). */
export const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);

/** Development values of the secrets; each main.ts warns when one is in use. */
export const devSecrets = {
  REWARDS_TOKEN_SECRET: 'dev-only-token-secret-change-me-0123456789',
  REWARDS_OPERATOR_TOKEN: 'dev-only-operator-token',
  REWARDS_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
} as const;

/** The secrets the rewards and payouts services share: the user-token key, and the key openids are sealed under. */
export const sharedSecrets = {
  REWARDS_TOKEN_SECRET: z.string().min(32).default(devSecrets.REWARDS_TOKEN_SECRET),
  REWARDS_ENCRYPTION_KEY: z.string().default(devSecrets.REWARDS_ENCRYPTION_KEY)
    .refine((s) => Buffer.from(s, 'base64').length === 32, 'must be 32 bytes, base64'),
};
