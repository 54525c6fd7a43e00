// Integration-test harness: a rewards service's world on the real local stack, private to the test
// (Postgres database, topics, consumer group, BullMQ prefix), a WeChat sandbox for OAuth, earnings
// to feed it, rewards services in-process or as killable child processes, and an API client.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../common/config.js';
import { createKafka } from '../common/kafka.js';
import { createProducer } from '../common/kafka-producer.js';
import { stopAll } from '../common/shutdown.js';
import { EventType } from '../schemas/beacon-json.js';
import { pipeline } from '../schemas/gen/messages.js';
import { ensureTopics, migratePostgres } from '../schemas/migrate.js';
import { queues } from '../schemas/queues.js';
import { earningId } from '../schemas/records.js';
import {
  createTestPostgres,
  deleteTopics,
  env,
  silentLog,
  spawnEntry,
  uniqueName,
  waitDrained,
  waitForMembers,
  withAdmin,
} from '../test/support.js';
import { createRewards } from './app.js';
import { audit } from './audit.js';
import { signUserToken } from '../common/auth.js';
import { rewardsConfig } from './config.js';
import { fundingTransfer, type Earning } from './earnings.js';
import { personKey } from '../common/person.js';
import { fen } from '../common/money.js';
import { createPgLedger } from './ledger-pg.js';

/** The app of the tests' users and campaigns, unless a test names another. */
export const TEST_APP = 'test.app';

export type TestEarning = Earning;

/** A confirmed earning of `userId` in TEST_APP (a device of its own), as the aggregator produces it. */
export function testEarning(userId: string, campaignId: string, over: Partial<TestEarning> = {}): TestEarning {
  const sourceEventId = randomUUID();
  const now = Date.now();
  return {
    earningId: earningId(sourceEventId),
    sourceEventId,
    appId: TEST_APP,
    userId,
    campaignId,
    type: 'REWARD_COMPLETE',
    eventTime: now,
    verifiedAt: now,
    deviceId: `device-${userId}`,
    receivedAt: now,
    confirmation: `test:${sourceEventId}`,
    confirmedAt: now,
    userFlags: [],
    ...over,
  };
}

/** The person key of `userId` in `appId` (an account owner, as the ledger keys it). */
export const person = (userId: string, appId = TEST_APP) => personKey({ appId, userId });

export const earningRecord = (e: TestEarning) => ({
  key: e.userId,
  value: Buffer.from(pipeline.v1.VerifiedEarning.encode({ version: 1, ...e, type: EventType[e.type] }).finish()),
});

/** The WeChat Pay sandbox as its own process (as it runs in production's place), on a free port. */
async function spawnSandbox(extra: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../payouts/sandbox/main.ts')], {
    // LOG_LEVEL info: its start line is how its ports are known.
    env: {
      ...process.env,
      SANDBOX_PORT: '0',
      SANDBOX_TLS_PORT: '0',
      SANDBOX_ADMIN_PORT: '0',
      SANDBOX_JOURNAL_FILE: '',
      ...extra,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [port, tlsPort, adminPort] = await new Promise<[number, number, number]>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const started = /"port":(\d+),"tlsPort":(\d+),"adminPort":(\d+)[^\n]*"msg":"sandbox_started"/.exec(out);
      if (started) resolve([Number(started[1]), Number(started[2]), Number(started[3])]);
    });
    child.once('exit', (code) => reject(new Error(`sandbox exited (${code}) before it started`)));
  });
  child.stdout!.resume();
  return {
    port,
    tlsPort,
    adminPort,
    stop: () => new Promise<void>((resolve) => child.once('exit', () => resolve()).kill('SIGTERM')),
  };
}

export async function createRewardsWorld(
  opts: { partitions?: number; env?: Record<string, string>; sandboxEnv?: Record<string, string> } = {},
) {
  const db = await createTestPostgres('rewards');
  await migratePostgres(
    { DATABASE_URL: db.url },
    { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/postgres') },
  );
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const topics = { earnings: uniqueName('earnings'), deadLetters: uniqueName('edlq') };
  const kafka = createKafka({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'rewards-test' }, { log: silentLog });
  await ensureTopics(
    [
      { name: topics.earnings, partitions: opts.partitions ?? 3, retentionMs: 3_600_000, key: 'user_id', value: '' },
      { name: topics.deadLetters, partitions: 1, retentionMs: 3_600_000, key: '', value: '' },
    ],
    { kafka, log: silentLog },
  );
  const sandbox = await spawnSandbox({
    SANDBOX_APPID: 'wxtestapp',
    SANDBOX_APP_SECRET: 'test-secret',
    ...opts.sandboxEnv,
  });
  const queuePrefix = uniqueName('bull');
  const childEnv: Record<string, string> = {
    REWARDS_PORT: '0',
    REWARDS_OPS_PORT: '0',
    LOG_LEVEL: 'silent',
    DATABASE_URL: db.url,
    REWARDS_TOPIC: topics.earnings,
    REWARDS_DEADLETTER_TOPIC: topics.deadLetters,
    REWARDS_GROUP: uniqueName('group'),
    REWARDS_PAYOUT_QUEUE_PREFIX: queuePrefix,
    REWARDS_SESSION_TIMEOUT_MS: '6000',
    WECHAT_OAUTH_URL: `http://127.0.0.1:${sandbox.port}`,
    WECHAT_APPID: 'wxtestapp',
    WECHAT_APP_SECRET: 'test-secret',
    ...opts.env,
  };
  const config = loadConfig(rewardsConfig, { ...process.env, ...childEnv });
  const producer = createProducer({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'rewards-test' }, { log: silentLog });
  await producer.connect();
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(queues.payoutRequests.name, { connection: redis, prefix: queuePrefix });
  const children = new Set<ChildProcess>();
  const running: { stop(): Promise<void> }[] = [];
  const ledger = createPgLedger({ pool });

  const world = {
    db,
    pool,
    kafka,
    topics,
    sandbox,
    queue,
    env: childEnv,
    config,
    send: (earnings: TestEarning[]) =>
      producer.send([{ topic: topics.earnings, messages: earnings.map(earningRecord) }]),
    sendRaw: (messages: { key: string; value: Buffer }[]) => producer.send([{ topic: topics.earnings, messages }]),

    /** Registers `appId` and the campaign, owned by it (null: by no app), unless the campaign has a row. */
    async campaign(campaignId: string, appId: string | null = TEST_APP) {
      if (appId !== null) await pool.query('insert into apps (app_id) values ($1) on conflict do nothing', [appId]);
      await pool.query(
        'insert into campaigns (campaign_id, app_id) values ($1, $2) on conflict (campaign_id) do nothing',
        [campaignId, appId],
      );
    },

    /** A reward rule for the campaign, which TEST_APP owns unless `campaign` gave it another owner first. */
    async rule(campaignId: string, r: { complete: number; conversion: number; dailyCap?: number; feeBps?: number }) {
      await world.campaign(campaignId);
      await pool.query(
        'insert into reward_rules (campaign_id, reward_complete_fen, conversion_fen, user_daily_cap_fen, fee_bps, effective_from) values ($1, $2, $3, $4, $5, clock_timestamp())',
        [campaignId, r.complete, r.conversion, r.dailyCap ?? null, r.feeBps ?? 0],
      );
    },
    fund: (campaignId: string, amountFen: number) =>
      ledger.post([fundingTransfer(campaignId, fen(amountFen), randomUUID(), 'CNY')]),

    async start(extra: Record<string, string> = {}) {
      const service = await createRewards(loadConfig(rewardsConfig, { ...process.env, ...childEnv, ...extra }), {
        log: silentLog,
      });
      const handle = { ...service, stop: () => stopAll(service.parts, silentLog).then(() => {}) };
      running.push(handle);
      return handle;
    },

    /** A rewards service as a child process; with CRASH_AT it SIGKILLs itself at that step. */
    spawn(extra: Record<string, string> = {}) {
      const spawned = spawnEntry(join(import.meta.dirname, 'test-crash-main.ts'), { ...childEnv, ...extra });
      children.add(spawned.child);
      return spawned;
    },

    drained: (group = childEnv.REWARDS_GROUP!, timeoutMs = 60_000) =>
      waitDrained(kafka, { group, topic: topics.earnings, timeoutMs }),

    /** Waits until the consumer group has `n` members with partitions. */
    members: (n: number, timeoutMs = 30_000) =>
      withAdmin(kafka, (admin) =>
        waitForMembers(admin, childEnv.REWARDS_GROUP!, { members: n, timeoutMs, pollMs: 200 }),
      ),

    /** A user token of the person (appId, userId). */
    token: (userId: string, appId = TEST_APP) =>
      signUserToken(config.REWARDS_TOKEN_SECRET, { appId, userId }, { ttlS: 600, nowMs: Date.now() }),

    /** Calls the API of the service listening on `port`. */
    async api(
      port: number,
      method: string,
      path: string,
      opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
    ) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: {
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...opts.headers,
        },
        body:
          opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
      });
      return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
    },

    /** A WeChat OAuth code for `wechatUser`, as the sandbox's consent page redirects with. */
    async oauthCode(wechatUser: string) {
      const q = new URLSearchParams({
        appid: 'wxtestapp',
        redirect_uri: 'https://app.example/cb',
        response_type: 'code',
        scope: 'snsapi_base',
        state: 's',
        sandbox_user: wechatUser,
      });
      const res = await fetch(`http://127.0.0.1:${sandbox.port}/connect/oauth2/authorize?${q}`, { redirect: 'manual' });
      return new URL(res.headers.get('location')!).searchParams.get('code')!;
    },

    async balances(): Promise<Map<string, bigint>> {
      const { rows } = await pool.query<{ owner: string; type: string; balance: string }>(
        'select owner, type, credits - debits as balance from accounts',
      );
      return new Map(rows.map((r) => [`${r.type}/${r.owner}`, BigInt(r.balance)]));
    },

    async audit() {
      const client = await pool.connect();
      try {
        return (await audit(client)).filter((r) => r.breaches > 0);
      } finally {
        client.release();
      }
    },

    async stop() {
      for (const c of children) c.kill('SIGKILL');
      for (const r of running) await r.stop().catch(() => {});
      await producer.disconnect();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
      await redis.quit();
      await sandbox.stop();
      await deleteTopics(kafka, Object.values(topics));
      await pool.end();
      await db.drop();
    },
  };
  return world;
}
export type RewardsWorld = Awaited<ReturnType<typeof createRewardsWorld>>;
