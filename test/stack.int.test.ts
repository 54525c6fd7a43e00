// Proves each local-stack server is real and reachable from Node through the drivers the services use.
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createKafka } from '../common/kafka.js';
import { createTestClickhouse, createTestPostgres, env, silentLog, uniqueName } from './support.js';

describe('local stack', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('round-trips a message through Kafka with acks=all', async () => {
    const kafka = createKafka({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'stack-test' }, { log: silentLog });
    const topic = uniqueName('stack');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2 }] });
    cleanups.push(async () => {
      await admin.deleteTopics({ topics: [topic] });
      await admin.disconnect();
    });

    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: 'user-1', value: 'hello kafka' }] });
    await producer.disconnect();
    expect(meta?.errorCode).toBe(0);

    const consumer = kafka.consumer({ groupId: uniqueName('group') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await new Promise<string>((resolve) => {
      void consumer.run({ eachMessage: async ({ message }) => resolve(`${message.key}=${message.value}`) });
    });
    await consumer.disconnect();
    expect(received).toBe('user-1=hello kafka');
  });

  it('creates a table, inserts and selects in ClickHouse', async () => {
    const ch = await createTestClickhouse();
    cleanups.push(() => ch.drop());
    await ch.client.command({
      query: 'CREATE TABLE t (day Date, n UInt32, s String) ENGINE = MergeTree PARTITION BY day ORDER BY n',
    });
    await ch.client.insert({
      table: 't',
      format: 'JSONEachRow',
      values: [
        { day: '2026-11-22', n: 1, s: 'a' },
        { day: '2026-11-22', n: 2, s: 'b' },
        { day: '2026-11-23', n: 3, s: 'c' },
      ],
    });
    const rs = await ch.client.query({
      query: 'SELECT count() AS c, sum(n) AS total, groupArray(s) AS ss FROM t',
      format: 'JSONEachRow',
    });
    const [row] = await rs.json<{ c: string; total: string; ss: string[] }>();
    expect({ c: Number(row?.c), total: Number(row?.total), ss: [...(row?.ss ?? [])].sort() }).toEqual({
      c: 3,
      total: 6,
      ss: ['a', 'b', 'c'],
    });
  });

  it('commits and rolls back transactions in Postgres', async () => {
    const db = await createTestPostgres();
    cleanups.push(() => db.drop());
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    cleanups.push(() => client.end());
    await client.query('create table accounts (id text primary key, balance bigint not null check (balance >= 0))');
    await client.query('begin');
    await client.query("insert into accounts values ('a', 100), ('b', 0)");
    await client.query('commit');
    await client.query('begin');
    await client.query("update accounts set balance = balance + 30 where id = 'b'");
    await expect(client.query("update accounts set balance = balance - 130 where id = 'a'")).rejects.toThrow(
      /check constraint/,
    );
    await client.query('rollback');
    const { rows } = await client.query('select id, balance::int from accounts order by id');
    expect(rows).toEqual([
      { id: 'a', balance: 100 },
      { id: 'b', balance: 0 },
    ]);
  });

  it('runs a BullMQ job through Redis', async () => {
    const connection = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
    const name = uniqueName('queue');
    const queue = new Queue(name, { connection });
    // Read the fresh queue's event stream from its start: with the default '$' a completion written
    // before the first XREAD is issued would be missed, and the wait would time out.
    const events = new QueueEvents(name, { connection: connection.duplicate(), lastEventId: '0-0' });
    const worker = new Worker(name, async (job) => ({ doubled: (job.data as { n: number }).n * 2 }), {
      connection: connection.duplicate(),
    });
    cleanups.push(async () => {
      await worker.close();
      await events.close();
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    });
    await events.waitUntilReady();
    const job = await queue.add('double', { n: 21 }, { jobId: 'job-1' });
    await expect(job.waitUntilFinished(events, 10_000)).resolves.toEqual({ doubled: 42 });
    expect(await connection.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
  });
});
