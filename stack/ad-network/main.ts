// The ad-network simulator process (`npm start` runs it beside the WeChat sandbox): AdMob-style and
// HMAC-network reward callbacks and advertiser postbacks to the collector, for the demo and tests.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { count, loadConfig, port } from '../../common/config.js';
import { createLogger } from '../../common/log.js';
import { handleShutdown } from '../../common/shutdown.js';
import { root } from '../supervisor.js';
import { defaultRetry } from './deliveries.js';
import { ensureAdmobKey } from './keys.js';
import { createAdNetwork, secretsInput, type Secrets } from './network.js';
import { startAdNetworkServer } from './server.js';

const config = loadConfig(
  z.object({
    ADNET_PORT: port(8093),
    STACK_DIR: z.string().default(join(root, '.stack')),
    ADNET_DIR: z.string().optional(),
    INGEST_PORT: port(8080),
    ADNET_COLLECTOR_URL: z.url().optional(),
    ADNET_RETRY_MAX_ATTEMPTS: count(defaultRetry.maxAttempts),
    ADNET_RETRY_BASE_MS: count(defaultRetry.baseDelayMs),
    LOG_LEVEL: z.string().default('info'),
  }),
  process.env,
);
const log = createLogger('ad-network', config.LOG_LEVEL);
const dir = config.ADNET_DIR ?? join(config.STACK_DIR, 'adnet');
const admob = ensureAdmobKey(dir);

// The secrets it was told, kept across restarts (as a network's and an advertiser's servers keep theirs).
const secretsFile = join(dir, 'secrets.json');
const saved: Secrets | undefined = existsSync(secretsFile)
  ? secretsInput.parse(JSON.parse(readFileSync(secretsFile, 'utf8')))
  : undefined;
const network = createAdNetwork(
  {
    collectorUrl: config.ADNET_COLLECTOR_URL ?? `http://127.0.0.1:${config.INGEST_PORT}`,
    admob,
    secrets: saved,
    retry: {
      ...defaultRetry,
      maxAttempts: Math.max(1, config.ADNET_RETRY_MAX_ATTEMPTS),
      baseDelayMs: config.ADNET_RETRY_BASE_MS,
    },
  },
  {
    fetch,
    now: Date.now,
    log,
    onSecrets(secrets) {
      writeFileSync(secretsFile, JSON.stringify(secrets), { mode: 0o600 });
      chmodSync(secretsFile, 0o600);
    },
  },
);
const server = await startAdNetworkServer({ port: config.ADNET_PORT }, network);
log.info({ url: server.url, keyId: admob.keyId, verifierKeys: admob.verifierUrl }, 'ad_network_listening');
handleShutdown([{ name: 'ad-network', stop: server.stop }], { log });
