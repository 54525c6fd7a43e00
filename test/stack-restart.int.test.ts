// Killing any one stack server (SIGKILL) and running `stack.sh up` again brings it back with its data.
// Skipped when the tests run against servers this project's stack script did not start.
import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createKafka } from '../common/kafka.js';
import {
  createTestClickhouse,
  createTestPostgres,
  env,
  killStackServer,
  silentLog,
  stackOwned,
  stackPid,
  stackUp,
  uniqueName,
  type StackServer,
} from './support.js';

async function killAndBringBack(server: StackServer): Promise<void> {
  const pid = killStackServer(server);
  await stackUp();
  expect(stackPid(server)).not.toBe(pid);
}

describe.skipIf(!stackOwned)('stack restart after a crash', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('brings Postgres back with committed rows', async () => {
    const db = await createTestPostgres();
    cleanups.push(() => db.drop());
    const write = new pg.Client({ connectionString: db.url });
    await write.connect();
    await write.query("create table kept (v text); insert into kept values ('before crash')");
    write.on('error', () => {}); // its server is about to die
    await killAndBringBack('postgres');
    await write.end().catch(() => {});
    const read = new pg.Client({ connectionString: db.url });
    await read.connect();
    const { rows } = await read.query('select v from kept');
    await read.end();
    expect(rows).toEqual([{ v: 'before crash' }]);
  });

  it('brings Redis back with its keys (append-only file)', async () => {
    const key = uniqueName('key');
    const before = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    before.on('error', () => {});
    await before.set(key, 'before crash');
    await killAndBringBack('redis');
    before.disconnect();
    const after = new Redis(env.REDIS_URL);
    expect(await after.get(key)).toBe('before crash');
    await after.del(key);
    after.disconnect();
  });

  it('brings ClickHouse back with inserted rows', async () => {
    const ch = await createTestClickhouse();
    cleanups.push(() => ch.drop());
    await ch.client.command({ query: 'CREATE TABLE kept (n UInt32) ENGINE = MergeTree ORDER BY n' });
    await ch.client.insert({ table: 'kept', format: 'JSONEachRow', values: [{ n: 1 }, { n: 2 }] });
    await killAndBringBack('clickhouse');
    // A new client: the old one's keep-alive sockets died with the server.
    const after = createClient({ url: env.CLICKHOUSE_URL, database: ch.name });
    const rs = await after.query({ query: 'SELECT sum(n) AS s FROM kept', format: 'JSONEachRow' });
    expect(Number((await rs.json<{ s: string }>())[0]?.s)).toBe(3);
    await after.close();
  });

  it('brings Kafka back with acknowledged records', async () => {
    const kafka = createKafka({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'restart-test' }, { log: silentLog });
    const topic = uniqueName('kept');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
    await admin.disconnect();
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ value: 'before crash' }] });
    await producer.disconnect();

    await killAndBringBack('kafka');

    const consumer = kafka.consumer({ groupId: uniqueName('group') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const value = await new Promise<string>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => resolve(String(message.value)) });
    });
    await consumer.disconnect();
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteTopics({ topics: [topic] });
    await cleanup.disconnect();
    expect(value).toBe('before crash');
  });
});
