// Integration-test harness: an aggregator's world on the real local stack, all of it private to the
// test (ClickHouse and Postgres databases, topics, consumer group, Redis key prefix), records to feed
// it, aggregators in-process or as killable child processes, and the waits and counts tests need.
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../common/config.js';
import { createKafka } from '../common/kafka.js';
import { createProducer } from '../common/kafka-producer.js';
import { stopAll } from '../common/shutdown.js';
import { EventType } from '../schemas/beacon-json.js';
import { pipeline } from '../schemas/gen/messages.js';
import { ensureTopics, migrateClickhouse, migratePostgres } from '../schemas/migrate.js';
import { topics as pipelineTopics } from '../schemas/topics.js';
import {
  consumeTopic,
  createTestClickhouse,
  createTestPostgres,
  deleteRedisPrefix,
  deleteTopics,
  env,
  silentLog,
  spawnEntry,
  uniqueName,
  waitDrained,
} from '../test/support.js';
import { createAggregator } from './app.js';
import { aggregatorConfig } from './config.js';

const migrations = join(import.meta.dirname, '../schemas/migrations');

export interface TestEvent {
  id: string;
  type: keyof typeof EventType;
  time: number;
  userId: string;
  deviceId: string;
  campaignId: string;
  creativeId: string;
  placementId: string;
  clickId?: string;
  valueMicros?: number;
}

let counter = 0;
export function testEvent(type: TestEvent['type'], time: number, over: Partial<TestEvent> = {}): TestEvent {
  counter++;
  return {
    id: randomUUID(),
    type,
    time,
    userId: `user-${counter % 50}`,
    deviceId: `device-${counter % 50}`,
    campaignId: 'campaign-1',
    creativeId: 'creative-1',
    placementId: 'placement-1',
    ...over,
  };
}

/** One AcceptedBeacons record, as the collector writes it, keyed by the first event's user. */
export function acceptedRecord(
  events: TestEvent[],
  meta: { appId?: string; invalidReason?: string; version?: number; receivedAt?: number } = {},
) {
  const value = pipeline.v1.AcceptedBeacons.encode({
    version: meta.version ?? 1,
    appId: meta.appId ?? 'test.app',
    sdk: 'test/1',
    keyId: 'k_test',
    sentAt: Date.now(),
    receivedAt: meta.receivedAt ?? Date.now(),
    ipHash: 'ab',
    uaClass: 'app',
    country: '',
    invalidReason: meta.invalidReason ?? '',
    events: events.map((e) => ({
      eventTime: e.time,
      event: {
        eventId: e.id,
        type: EventType[e.type],
        occurredAt: e.time,
        userId: e.userId,
        deviceId: e.deviceId,
        campaignId: e.campaignId,
        creativeId: e.creativeId,
        placementId: e.placementId,
        clickId: e.clickId ?? null,
        valueMicros: e.valueMicros ?? null,
      },
    })),
  }).finish();
  return { key: events[0]?.userId ?? 'none', value: Buffer.from(value) };
}

let transactions = 0;
/**
 * A Confirmation record as the collector writes it for a verified callback, keyed by its user: by
 * default an ad network's ('admob') for `event` (a REWARD_COMPLETE); `postback` for a CONVERSION; for
 * the event's campaign.
 */
export function confirmationRecord(
  event: TestEvent | undefined,
  over: Partial<pipeline.v1.Confirmation.$Properties> = {},
) {
  const source = over.source ?? (event?.type === 'CONVERSION' ? 'postback' : 'admob');
  const ref = over.eventId ?? (over.clickId ? '' : (event?.id ?? ''));
  const fields: pipeline.v1.Confirmation.$Properties = {
    version: 1,
    source,
    appId: 'test.app',
    userId: event?.userId ?? 'nobody',
    eventId: ref,
    receivedAt: Date.now(),
    occurredAt: Date.now(),
    // A postback's campaign, or the ad unit's (registered with the event's campaign, as it should be).
    campaignId: event?.campaignId ?? '',
    keyId: 'key-1',
    ...(source === 'postback' ? {} : { adUnit: 'unit-1', rewardItem: 'coins', rewardAmount: 10 }),
    ...over,
  };
  fields.transactionId ??=
    source === 'postback'
      ? `${fields.campaignId}:${fields.eventId || fields.clickId}`
      : `tx-${++transactions}-${randomUUID()}`;
  return { key: fields.userId!, value: Buffer.from(pipeline.v1.Confirmation.encode(fields).finish()) };
}

export async function createAggregatorWorld(opts: { partitions?: number; env?: Record<string, string> } = {}) {
  const ch = await createTestClickhouse('agg');
  await migrateClickhouse(
    { CLICKHOUSE_URL: env.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: ch.name },
    { log: silentLog, dir: join(migrations, 'clickhouse') },
  );
  const db = await createTestPostgres('agg');
  await migratePostgres({ DATABASE_URL: db.url }, { log: silentLog, dir: join(migrations, 'postgres') });
  const topics = {
    beacons: uniqueName('beacons'),
    confirmations: uniqueName('confirmations'),
    earnings: uniqueName('earnings'),
    deadLetters: uniqueName('dlq'),
    changelog: uniqueName('changelog'),
  };
  const kafka = createKafka({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'aggregator-test' }, { log: silentLog });
  await ensureTopics(
    [
      { name: topics.beacons, partitions: opts.partitions ?? 3, retentionMs: 3_600_000, key: 'user_id', value: '' },
      {
        name: topics.confirmations,
        partitions: opts.partitions ?? 3,
        retentionMs: 3_600_000,
        key: 'user_id',
        value: '',
      },
      { name: topics.earnings, partitions: 1, retentionMs: 3_600_000, key: 'user_id', value: '' },
      { name: topics.deadLetters, partitions: 1, retentionMs: 3_600_000, key: '', value: '' },
      {
        ...pipelineTopics.aggregatorChangelog,
        name: topics.changelog,
        partitions: opts.partitions ?? 3,
        retentionMs: 3_600_000,
      },
    ],
    { kafka, log: silentLog },
  );
  // Each aggregator's local state lives under a "host" directory: the same one by default (a restart
  // on the same host), another for a process running beside it or for a host with an empty disk.
  const hosts = mkdtempSync(join(tmpdir(), 'agg-state-'));
  const host = (name: string) => join(hosts, name);
  const prefix = `${uniqueName('agg')}:`;
  const childEnv: Record<string, string> = {
    AGGREGATOR_PORT: '0',
    LOG_LEVEL: 'silent',
    CLICKHOUSE_DATABASE: ch.name,
    DATABASE_URL: db.url,
    AGGREGATOR_TOPIC: topics.beacons,
    AGGREGATOR_CONFIRMATIONS_TOPIC: topics.confirmations,
    AGGREGATOR_EARNINGS_TOPIC: topics.earnings,
    AGGREGATOR_DEADLETTER_TOPIC: topics.deadLetters,
    AGGREGATOR_GROUP: uniqueName('group'),
    AGGREGATOR_REDIS_PREFIX: prefix,
    AGGREGATOR_FLUSH_INTERVAL_MS: '200',
    AGGREGATOR_CHANGELOG_TOPIC: topics.changelog,
    AGGREGATOR_STATE_DIR: host('host-0'),
    AGGREGATOR_SESSION_TIMEOUT_MS: '6000',
    ...opts.env,
  };
  const producer = createProducer(
    { KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'aggregator-test' },
    { log: silentLog },
  );
  await producer.connect();
  const children = new Set<ChildProcess>();
  const running: { stop(): Promise<void> }[] = [];

  async function query<T>(sql: string): Promise<T[]> {
    return (await ch.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
  }

  return {
    ch,
    db,
    kafka,
    topics,
    env: childEnv,
    host,
    query,
    count: async (sql: string) => Number((await query<{ n: string }>(sql))[0]?.n ?? 0),
    send: (records: { key: string; value: Buffer }[]) => producer.send([{ topic: topics.beacons, messages: records }]),
    confirm: (records: { key: string; value: Buffer }[]) =>
      producer.send([{ topic: topics.confirmations, messages: records }]),

    /** An aggregator in this process (group member); `stop` leaves the group cleanly. */
    async start(extra: Record<string, string> = {}) {
      const config = loadConfig(aggregatorConfig, { ...process.env, ...childEnv, ...extra });
      const agg = await createAggregator(config, { log: silentLog });
      const handle = { ...agg, stop: () => stopAll(agg.parts, silentLog).then(() => {}) };
      running.push(handle);
      return handle;
    },

    /** An aggregator as a child process; with CRASH_AT it SIGKILLs itself at that step. */
    spawn(extra: Record<string, string> = {}) {
      const spawned = spawnEntry(join(import.meta.dirname, 'test-crash-main.ts'), { ...childEnv, ...extra });
      children.add(spawned.child);
      return spawned;
    },

    /** Waits until the group has committed every record of the beacon and confirmation topics. */
    drained: async (group = childEnv.AGGREGATOR_GROUP!, timeoutMs = 60_000) => {
      await waitDrained(kafka, { group, topic: topics.beacons, timeoutMs });
      await waitDrained(kafka, { group, topic: topics.confirmations, timeoutMs });
    },

    /** Every record of a topic (earnings or dead letters), read from the start by a fresh group. */
    async readTopic(topic: string, expected: number, timeoutMs = 15_000) {
      const read = await consumeTopic(kafka, topic, {
        timeoutMs,
        settleMs: 300,
        enough: (seen) => seen.length >= expected,
      });
      return read.map((m) => m.message);
    },

    async stop() {
      for (const c of children) c.kill('SIGKILL');
      for (const r of running) await r.stop().catch(() => {});
      await producer.disconnect();
      await deleteTopics(kafka, Object.values(topics));
      await deleteRedisPrefix(prefix);
      rmSync(hosts, { recursive: true, force: true });
      await ch.drop();
      await db.drop();
    },
  };
}
export type AggregatorWorld = Awaited<ReturnType<typeof createAggregatorWorld>>;
