// The whole pipeline on the real local stack, private to one test or benchmark: its own Postgres
// and ClickHouse databases, topics, consumer groups, Redis prefixes and ports; every service (and the
// WeChat Pay sandbox and the ad-network simulator, whose AdMob key the collector trusts) as its own
// process under the supervisor `npm start` uses; and a driver.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { devSecrets } from '../common/config.js';
import { createKafka } from '../common/kafka.js';
import { sandboxMerchant } from '../payouts/sandbox/defaults.js';
import { ensureTopics, migrateClickhouse, migratePostgres } from '../schemas/migrate.js';
import { topics as pipelineTopics } from '../schemas/topics.js';
import { ensureAdmobKey } from '../stack/ad-network/keys.js';
import { createDriver } from '../stack/drive.js';
import { supervise } from '../stack/supervisor.js';
import {
  createTestClickhouse,
  createTestPostgres,
  deleteRedisPrefix,
  deleteTopics,
  env,
  freePort,
  silentLog,
  uniqueName,
} from './support.js';

const migrations = join(import.meta.dirname, '../schemas/migrations');

export async function createPipelineWorld(opts: { env?: Record<string, string>; log?: NodeJS.WritableStream } = {}) {
  const db = await createTestPostgres('e2e');
  await migratePostgres({ DATABASE_URL: db.url }, { log: silentLog, dir: join(migrations, 'postgres') });
  const ch = await createTestClickhouse('e2e');
  await migrateClickhouse(
    { CLICKHOUSE_URL: env.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: ch.name },
    { log: silentLog, dir: join(migrations, 'clickhouse') },
  );
  const topics = {
    beacons: uniqueName('beacons'),
    confirmations: uniqueName('confirmations'),
    earnings: uniqueName('earnings'),
    dlq: uniqueName('dlq'),
    edlq: uniqueName('edlq'),
    changelog: uniqueName('changelog'),
  };
  const kafka = createKafka({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'e2e-test' }, { log: silentLog });
  await ensureTopics(
    [
      { name: topics.beacons, partitions: 6, retentionMs: 3_600_000, key: 'user_id', value: '' },
      { name: topics.confirmations, partitions: 6, retentionMs: 3_600_000, key: 'user_id', value: '' },
      { name: topics.earnings, partitions: 6, retentionMs: 3_600_000, key: 'user_id', value: '' },
      { name: topics.dlq, partitions: 1, retentionMs: 3_600_000, key: '', value: '' },
      { name: topics.edlq, partitions: 1, retentionMs: 3_600_000, key: '', value: '' },
      { ...pipelineTopics.aggregatorChangelog, name: topics.changelog, retentionMs: 3_600_000 },
    ],
    { kafka, log: silentLog },
  );
  const [ingest, aggregator, rewards, payouts, sandbox, sandboxTls, sandboxAdmin, adnet] = await Promise.all(
    Array.from({ length: 8 }, freePort),
  );
  const sandboxDir = mkdtempSync(join(tmpdir(), 'e2e-sandbox-')); // its journal, so that it survives being killed
  // The simulator's AdMob key, made before the collector first reads the verifier-key list.
  const adnetDir = join(sandboxDir, 'adnet');
  const admob = ensureAdmobKey(adnetDir);
  const groups = { aggregator: uniqueName('agg'), rewards: uniqueName('rewards') };
  const prefixes = { aggregator: `${uniqueName('agg')}:`, queues: uniqueName('bull') };
  const serviceEnv: Record<string, string> = {
    LOG_LEVEL: 'error',
    DEV_MODE: 'true',
    DATABASE_URL: db.url,
    CLICKHOUSE_DATABASE: ch.name,
    INGEST_PORT: String(ingest),
    INGEST_OPS_PORT: '0',
    INGEST_TOPIC: topics.beacons,
    INGEST_CONFIRMATIONS_TOPIC: topics.confirmations,
    INGEST_ADMOB_KEYS_URL: admob.verifierUrl,
    AGGREGATOR_PORT: String(aggregator),
    AGGREGATOR_TOPIC: topics.beacons,
    AGGREGATOR_CONFIRMATIONS_TOPIC: topics.confirmations,
    AGGREGATOR_EARNINGS_TOPIC: topics.earnings,
    AGGREGATOR_DEADLETTER_TOPIC: topics.dlq,
    AGGREGATOR_GROUP: groups.aggregator,
    AGGREGATOR_REDIS_PREFIX: prefixes.aggregator,
    AGGREGATOR_FLUSH_INTERVAL_MS: '200',
    AGGREGATOR_SESSION_TIMEOUT_MS: '6000',
    AGGREGATOR_CHANGELOG_TOPIC: topics.changelog,
    AGGREGATOR_STATE_DIR: join(sandboxDir, 'aggregator'),
    REWARDS_PORT: String(rewards),
    REWARDS_OPS_PORT: '0',
    REWARDS_TOPIC: topics.earnings,
    REWARDS_DEADLETTER_TOPIC: topics.edlq,
    REWARDS_GROUP: groups.rewards,
    REWARDS_PAYOUT_QUEUE_PREFIX: prefixes.queues,
    REWARDS_SESSION_TIMEOUT_MS: '6000',
    REWARDS_REQUEUE_INTERVAL_MS: '1000',
    WECHAT_OAUTH_URL: `http://127.0.0.1:${sandbox}`,
    PAYOUTS_PORT: String(payouts),
    PAYOUTS_OPS_PORT: '0',
    PAYOUTS_QUEUE_PREFIX: prefixes.queues,
    WECHATPAY_BASE_URL: `https://127.0.0.1:${sandboxTls}`,
    PAYOUTS_NOTIFY_URL: `https://127.0.0.1:${payouts}/v1/wechat/notify`,
    PAYOUTS_TICK_MS: '200',
    PAYOUTS_BATCH_MAX_AGE_MS: '1000',
    PAYOUTS_POLL_MS: '2000',
    PAYOUTS_SWEEP_MS: '1000',
    WECHATPAY_TIMEOUT_MS: '3000',
    // The sandbox runs 10,000 times faster than real time: a bill waiting for its user is asked about
    // every 2 s, not every hour, in case its callback was lost while payouts was down.
    PAYOUTS_BILL_WAIT_POLL_MS: '2000',
    // The ground truth holds only fraud signals for review; the velocity limits are tested in payouts/.
    PAYOUTS_MAX_PER_HOUR: '1000',
    PAYOUTS_MAX_DAILY_COUNT: '1000',
    SANDBOX_PORT: String(sandbox),
    SANDBOX_TLS_PORT: String(sandboxTls),
    SANDBOX_ADMIN_PORT: String(sandboxAdmin),
    SANDBOX_STEP_MS: '40',
    SANDBOX_TIME_SCALE: '0.0001',
    SANDBOX_AUTO_CONFIRM_MS: '60',
    SANDBOX_JOURNAL_FILE: join(sandboxDir, 'journal.jsonl'),
    ADNET_PORT: String(adnet),
    ADNET_DIR: adnetDir,
    ADNET_COLLECTOR_URL: `http://127.0.0.1:${ingest}`,
    ...opts.env,
  };
  const supervisor = supervise({ env: serviceEnv, out: opts.log ?? process.stderr });
  const urls = [
    `http://127.0.0.1:${ingest}/readyz`,
    `http://127.0.0.1:${aggregator}/readyz`,
    `http://127.0.0.1:${rewards}/readyz`,
    `http://127.0.0.1:${payouts}/readyz`,
    `http://127.0.0.1:${sandbox}/healthz`,
    `http://127.0.0.1:${adnet}/healthz`,
  ];
  /** Waits until every service answers ready (after a start, or after a service was killed and restarted). */
  async function ready(): Promise<void> {
    for (const deadline = Date.now() + 60_000; ; await sleep(250)) {
      const ok = await Promise.all(
        urls.map((u) =>
          fetch(u).then(
            (r) => r.ok,
            () => false,
          ),
        ),
      );
      if (ok.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`services not ready: ${urls.filter((_, i) => !ok[i]).join(', ')}`);
    }
  }
  await ready();
  const driver = createDriver({
    env: serviceEnv,
    ingestUrl: `http://127.0.0.1:${ingest}`,
    rewardsUrl: `http://127.0.0.1:${rewards}`,
    payoutsUrl: `http://127.0.0.1:${payouts}`,
    sandboxUrl: `http://127.0.0.1:${sandbox}`,
    sandboxAdminUrl: `http://127.0.0.1:${sandboxAdmin}`,
    adnetUrl: `http://127.0.0.1:${adnet}`,
    admobKeysUrl: admob.verifierUrl,
    databaseUrl: db.url,
    clickhouseUrl: env.CLICKHOUSE_URL,
    clickhouseDatabase: ch.name,
    kafka: { KAFKA_BROKERS: env.KAFKA_BROKERS },
    lags: [
      { group: groups.aggregator, topic: topics.beacons },
      { group: groups.aggregator, topic: topics.confirmations },
      { group: groups.rewards, topic: topics.earnings },
    ],
    tokenSecret: devSecrets.REWARDS_TOKEN_SECRET,
    wechatAppid: sandboxMerchant.appid,
  });

  return {
    supervisor,
    driver,
    env: serviceEnv,
    ready,
    /** The simulator's AdMob key (the one the collector trusts), for tests that sign or tamper callbacks themselves. */
    admob,
    async stop() {
      await supervisor.stop();
      await driver.close();
      for (const prefix of [prefixes.aggregator, `${prefixes.queues}:`]) await deleteRedisPrefix(prefix);
      await deleteTopics(kafka, Object.values(topics));
      await ch.drop();
      await db.drop();
      rmSync(sandboxDir, { recursive: true, force: true });
    },
  };
}
export type PipelineWorld = Awaited<ReturnType<typeof createPipelineWorld>>;
