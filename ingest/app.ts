// Builds a running collector from its config: key caches, Kafka sink, produce queue, collector, S2S
// confirmations and server. main.ts runs one; integration tests and benchmarks run their own on port 0.
import { readFileSync } from 'node:fs';
import type { Logger } from '../common/log.js';
import { startOpsServer } from '../common/ops-server.js';
import type { Stoppable } from '../common/shutdown.js';
import { createAdmobKeys, readKeysText } from './admob-keys.js';
import { createCollector } from './collector.js';
import { createConfirmations } from './confirmations.js';
import type { IngestConfig } from './config.js';
import { createEnricher, parseCidrs } from './enrich.js';
import { createKafkaSink } from './kafka-sink.js';
import { createPgKeyStore } from './keys-pg.js';
import { createMetrics } from './metrics.js';
import { createProduceQueue } from './produce-queue.js';
import { createRateLimiter } from './rate-limit.js';
import { createPgS2sKeys } from './s2s-keys-pg.js';
import { createNodeServer } from './server-node.js';
import { createUwsServer } from './server-uws.js';
import { contractLimits } from './validate.js';

export async function createIngest(config: IngestConfig, deps: { log: Logger }) {
  const { log } = deps;
  const keys = await createPgKeyStore(
    { DATABASE_URL: config.DATABASE_URL, refreshMs: config.INGEST_KEY_REFRESH_MS },
    { log },
  );
  const s2sKeys = await createPgS2sKeys(
    { DATABASE_URL: config.DATABASE_URL, refreshMs: config.INGEST_KEY_REFRESH_MS },
    { log },
  );
  const admobKeys = createAdmobKeys(
    { refreshMs: config.INGEST_ADMOB_KEYS_REFRESH_MS, refetchMinMs: 60_000 },
    {
      load: () => readKeysText(config.INGEST_ADMOB_KEYS_URL, 10_000),
      now: Date.now,
      log,
    },
  );
  const metrics = createMetrics();
  const sink = await createKafkaSink(
    {
      ...config,
      topic: config.INGEST_TOPIC,
      extraTopics: [config.INGEST_CONFIRMATIONS_TOPIC],
      producers: config.INGEST_PRODUCERS,
      compression: config.KAFKA_COMPRESSION,
      sendTimeoutMs: config.INGEST_SEND_TIMEOUT_MS,
      auditSampleRate: config.INGEST_AUDIT_SAMPLE_RATE,
      auditMaxPerS: config.INGEST_AUDIT_MAX_PER_S,
    },
    { log, onAudit: metrics.audit },
  );
  const queue = createProduceQueue(
    {
      maxEvents: config.INGEST_QUEUE_MAX_EVENTS,
      maxBytes: config.INGEST_QUEUE_MAX_BYTES,
      lingerMs: config.INGEST_LINGER_MS,
      maxBatchBytes: config.INGEST_MAX_BATCH_BYTES,
      concurrency: config.INGEST_PRODUCERS,
    },
    sink,
  );
  metrics.watch({ queueDepth: () => queue.depth, brokerHealthy: sink.healthy });

  const appLimiter = createRateLimiter({
    ratePerS: config.INGEST_APP_EVENTS_PER_S,
    burst: config.INGEST_APP_EVENTS_PER_S * 2,
  });
  const deviceLimiter = createRateLimiter({
    ratePerS: config.INGEST_DEVICE_REQUESTS_PER_S,
    burst: config.INGEST_DEVICE_REQUESTS_PER_S * 2,
  });
  const sweep = setInterval(() => deviceLimiter.sweep(Date.now()), 10_000);

  const collector = createCollector(
    { limits: contractLimits, signatureToleranceMs: 300_000 },
    {
      keys,
      origins: keys.origins,
      queue,
      appLimiter,
      deviceLimiter,
      metrics: metrics.collector,
      audit: sink.audit,
      now: Date.now,
      enrich: createEnricher({
        ipSalt: config.INGEST_IP_SALT,
        datacenters: parseCidrs(readFileSync(config.INGEST_DATACENTER_CIDRS_FILE, 'utf8')),
      }),
    },
  );

  const s2s = createConfirmations(
    { topic: config.INGEST_CONFIRMATIONS_TOPIC, signatureToleranceMs: 300_000 },
    {
      admobKeys,
      keys: s2sKeys,
      queue,
      metrics: metrics.confirmation,
      now: Date.now,
    },
  );

  let stopping = false;
  const ready = () => !stopping && sink.healthy();
  // /metrics on its own listener (loopback by default), never on the public port.
  const ops = await startOpsServer(
    { host: config.INGEST_OPS_HOST, port: config.INGEST_OPS_PORT },
    { registry: metrics.registry, ready },
  );
  const serverConfig = {
    host: config.INGEST_HOST,
    port: config.INGEST_PORT,
    maxBodyBytes: 256 * 1024,
    trustProxy: config.INGEST_TRUST_PROXY,
  };
  const serverDeps = { collector, s2s, origins: keys.origins, ready, log };
  const server =
    config.INGEST_SERVER === 'uws'
      ? createUwsServer(serverConfig, serverDeps)
      : createNodeServer(serverConfig, serverDeps);
  const boundPort = await server.listen();
  log.info({ port: boundPort, opsPort: ops.port, server: config.INGEST_SERVER, keys: keys.size }, 'ingest_listening');

  // Stopped in reverse: the server stops accepting and finishes in-flight requests, then what is
  // still queued is flushed to Kafka, then the producer and the key cache close, and the ops listener last.
  const parts: Stoppable[] = [
    { name: 'ops', stop: () => ops.stop() },
    { name: 'keys', stop: () => keys.stop() },
    { name: 's2s_keys', stop: () => s2sKeys.stop() },
    { name: 'admob_keys', stop: async () => admobKeys.stop() },
    { name: 'kafka', stop: () => sink.stop() },
    { name: 'queue', stop: () => queue.drain().catch((err: unknown) => log.error({ err }, 'queue_drain_failed')) },
    {
      name: 'server',
      stop: async () => {
        stopping = true;
        clearInterval(sweep);
        await server.stop();
      },
    },
  ];
  return { port: boundPort, opsPort: ops.port, parts };
}
