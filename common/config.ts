// Schema-validated configuration. Each service's main.ts parses its env once with loadConfig; keys
// equal env names, and a bad value fails at start with a message naming the key.
import { z } from 'zod';
import { fen } from './money.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig<S extends z.ZodObject>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}

/** DEV_MODE=true (exactly) is local development; anything else, or unset, is production. */
export const devModeEnv = {
  DEV_MODE: z
    .string()
    .optional()
    .transform((v) => v === 'true'),
};

const list = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);

const saslMechanisms = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type SaslMechanism = (typeof saslMechanisms)[number];

/** Connection settings shared by every service; defaults are the local stack's (CONTRACTS.md §6). */
export const stackEnv = {
  KAFKA_BROKERS: list.default(['127.0.0.1:19092']),
  // A secured cluster (kafka-security.ts): TLS verified against KAFKA_SSL_CA_FILE (which implies
  // KAFKA_SSL) or else Node's public CAs, a client certificate when the brokers ask for one (mutual
  // TLS), and SASL when a mechanism is named.
  KAFKA_SSL: z
    .enum(['true', 'false'])
    .optional()
    .transform((v) => v === 'true'),
  KAFKA_SSL_CA_FILE: z.string().min(1).optional(),
  KAFKA_SSL_CERT_FILE: z.string().min(1).optional(),
  KAFKA_SSL_KEY_FILE: z.string().min(1).optional(),
  KAFKA_SASL_MECHANISM: z.enum(saslMechanisms).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  CLICKHOUSE_URL: z.url().default('http://127.0.0.1:18123'),
  CLICKHOUSE_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
    .default('ads'),
  DATABASE_URL: z.url().default('postgres://ads:ads@127.0.0.1:15432/ads'),
  REDIS_URL: z.url().default('redis://127.0.0.1:16379'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ...devModeEnv,
};

/** The same Postgres server URL with another database (e.g. 'postgres' to create or drop one). */
export const withDatabase = (url: string, database: string): string =>
  Object.assign(new URL(url), { pathname: `/${database}` }).href;

/** A non-negative integer (a count, a size, a duration in ms). */
export const count = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

/** A positive amount of money in fen, written as a plain integer (`100`, not `1e2` or `100.0`). */
export const fenAmount = (fallback: number) => z.coerce.bigint().min(1n).default(BigInt(fallback)).transform(fen);

/** A TCP port; 0 asks the OS for a free one (tests, benchmarks). */
export const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);

/**
 * Development values of the secrets, published in this repository: a service refuses to start with
 * one unless DEV_MODE=true (refusePublishedSecrets).
 */
export const devSecrets = {
  REWARDS_TOKEN_SECRET: 'dev-only-token-secret-change-me-0123456789',
  REWARDS_OPERATOR_TOKEN: 'dev-only-operator-token',
  REWARDS_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
  PAYOUTS_OPERATOR_TOKEN: 'dev-only-operator-token',
  INGEST_IP_SALT: 'local-dev-salt-change-me',
  WECHAT_APP_SECRET: 'sandbox-app-secret',
} as const;

/** A published value, or a test for one (e.g. a file in the sandbox's directory). */
export type Published = string | ((value: unknown) => boolean);

/** What a service checks at start: the mode, its published secrets, and those it may send only to a loopback URL (the sandbox merchant's). */
export interface SecretRule {
  devMode: boolean;
  published: Record<string, Published>;
  loopbackOnly?: { urlKey: string; keys: readonly string[] };
}

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);
const isLoopback = (url: unknown) =>
  typeof url === 'string' && URL.canParse(url) && loopbackHosts.has(new URL(url).hostname);

/**
 * The rule for published secrets: outside development mode, every one in use is refused; even in
 * development, the loopback-only ones are refused when their URL is not loopback. `message` names
 * each refused key and what to do; `inUse` is for the development-mode warning.
 */
export function refusePublishedSecrets(config: Record<string, unknown>, rule: SecretRule) {
  const inUse = Object.entries(rule.published)
    .filter(
      ([key, published]) =>
        key in config && (typeof published === 'string' ? config[key] === published : published(config[key])),
    )
    .map(([key]) => key);
  const url = rule.loopbackOnly && config[rule.loopbackOnly.urlKey];
  const offLoopback =
    rule.loopbackOnly && !isLoopback(url) ? inUse.filter((k) => rule.loopbackOnly!.keys.includes(k)) : [];
  const refused = rule.devMode ? offLoopback : inUse;
  const why = [
    rule.devMode
      ? ''
      : 'published development secrets; set each to your own value, or set DEV_MODE=true for local development',
    offLoopback.length === 0
      ? ''
      : `the sandbox's ${offLoopback.join(', ')} work only against the local sandbox, not ${rule.loopbackOnly!.urlKey}=${String(url)}; set your own, or point ${rule.loopbackOnly!.urlKey} at 127.0.0.1`,
  ].filter(Boolean);
  const message = refused.length === 0 ? '' : `${refused.join(', ')}: ${why.join('; ')}.`;
  return { refused, inUse, message };
}

/** For a main.ts, before it connects to anything: exits non-zero with the refusal, or warns of the secrets development mode allows. */
export function exitOnPublishedSecrets(
  config: Record<string, unknown>,
  rule: SecretRule,
  log?: { warn: (fields: object, msg: string) => void },
) {
  const { refused, inUse, message } = refusePublishedSecrets(config, rule);
  if (refused.length > 0) {
    process.stderr.write(`refusing to start: ${message}\n`);
    process.exit(1);
  }
  if (inUse.length > 0) log?.warn({ keys: inUse }, 'development_secrets_in_use');
}

/** The secrets the rewards and payouts services share: the user-token key, and the key openids are sealed under. */
export const sharedSecrets = {
  REWARDS_TOKEN_SECRET: z.string().min(32).default(devSecrets.REWARDS_TOKEN_SECRET),
  REWARDS_ENCRYPTION_KEY: z
    .string()
    .default(devSecrets.REWARDS_ENCRYPTION_KEY)
    .refine((s) => Buffer.from(s, 'base64').length === 32, 'must be 32 bytes, base64'),
};
