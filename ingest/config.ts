// The collector's configuration (README "Configuration"); keys are the env names.
import { z } from 'zod';
import { devSecrets, port, stackEnv } from '../common/config.js';
import { topics } from '../schemas/topics.js';

const positive = (fallback: number) => z.coerce.number().int().min(0).default(fallback);
const isKeysUrl = (v: string) =>
  /^(https|file):\/\//.test(v) ||
  (v.startsWith('http://') && URL.canParse(v) && ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(v).hostname));

export const ingestConfig = z.object({
  ...stackEnv,
  INGEST_HOST: z.string().default('127.0.0.1'),
  INGEST_PORT: port(8080),
  INGEST_OPS_HOST: z.string().default('127.0.0.1'),
  INGEST_OPS_PORT: port(9080),
  INGEST_SERVER: z.enum(['uws', 'node']).default('uws'),
  INGEST_TOPIC: z.string().min(1).default(topics.beaconsAccepted.name),
  INGEST_CONFIRMATIONS_TOPIC: z.string().min(1).default(topics.confirmations.name),
  // Google's published verifier keys for AdMob SSV; a file:// URL in tests and the demo. Plain http only
  // to this host: keys read off an open network could be anyone's, and would verify their callbacks.
  INGEST_ADMOB_KEYS_URL: z
    .string()
    .refine(isKeysUrl, 'an https:// or file:// URL (http:// only to 127.0.0.1, localhost or [::1])')
    .default('https://www.gstatic.com/admob/reward/verifier-keys.json'),
  INGEST_ADMOB_KEYS_REFRESH_MS: z.coerce.number().int().min(1_000).default(86_400_000),
  INGEST_TRUST_PROXY: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  INGEST_IP_SALT: z.string().min(8).default(devSecrets.INGEST_IP_SALT),
  INGEST_DATACENTER_CIDRS_FILE: z.string().default(new URL('./datacenter-cidrs.txt', import.meta.url).pathname),
  INGEST_QUEUE_MAX_EVENTS: positive(200_000),
  INGEST_QUEUE_MAX_BYTES: positive(64 * 1024 * 1024),
  INGEST_LINGER_MS: positive(0),
  INGEST_PRODUCERS: z.coerce.number().int().min(1).max(32).default(1),
  INGEST_MAX_BATCH_BYTES: positive(1024 * 1024),
  INGEST_SEND_TIMEOUT_MS: positive(5_000),
  INGEST_APP_EVENTS_PER_S: positive(500_000),
  INGEST_DEVICE_REQUESTS_PER_S: positive(20),
  INGEST_KEY_REFRESH_MS: positive(5_000),
  INGEST_AUDIT_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(0.01),
  INGEST_AUDIT_MAX_PER_S: positive(100),
  KAFKA_COMPRESSION: z.enum(['none', 'gzip', 'snappy']).default('snappy'),
});
export type IngestConfig = z.infer<typeof ingestConfig>;
