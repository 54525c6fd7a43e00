// The changelog reader against the stack's broker: exactly the records from the asked offsets to the
// partitions' ends when called, in order, for one or several partitions; no consumer when there is
// nothing to read; the retention's losses said in a log line; errors thrown, never half-hidden.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { createKafka } from '../../common/kafka.js';
import { createProducer } from '../../common/kafka-producer.js';
import { ensureTopics } from '../../schemas/migrate.js';
import { capturingLog, deleteTopics, env, silentLog, uniqueName, withAdmin } from '../../test/support.js';
import { readPartitions } from './changelog-reader.js';

const kafka = createKafka({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'changelog-reader-test' }, { log: silentLog });
const producer = createProducer(
  { KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'changelog-reader-test' },
  { log: silentLog },
);
const made: string[] = [];

/** The stack's client, counting the consumers it makes and naming their groups. */
function counting() {
  const groups: string[] = [];
  const client = Object.create(kafka) as Kafka;
  client.consumer = (config) => {
    groups.push(config!.groupId);
    return kafka.consumer(config);
  };
  return { client, groups };
}

type Got = Map<number, { offset: bigint; value: string; timestamp: number }[]>;
async function read(from: { partition: number; offset: bigint }[], deps = { kafka, log: silentLog }, topic = shared) {
  const got: Got = new Map();
  const next = await readPartitions(deps, topic, from, async (partition, offset, value, timestamp) => {
    if (!got.has(partition)) got.set(partition, []);
    got.get(partition)!.push({ offset, value: value.toString(), timestamp });
  });
  return { got, next: Object.fromEntries(next.map((n) => [n.partition, n.next])) };
}

const value = (p: number, i: number) => `p${p}-${String(i).padStart(6, '0')}-${'x'.repeat(i % 17)}`;
const values = (p: number, from: number, to: number) => Array.from({ length: to - from }, (_, k) => value(p, from + k));
const COUNTS = [500, 300, 0]; // records per partition of the shared topic
let shared = '';
let producedAt = 0;

async function newTopic(partitions: number) {
  const name = uniqueName('changelog');
  await ensureTopics([{ name, partitions, retentionMs: 3_600_000, key: 'state partition', value: '' }], {
    kafka,
    log: silentLog,
  });
  made.push(name);
  return name;
}
async function fill(topic: string, counts: number[]) {
  for (const [p, n] of counts.entries()) {
    for (let i = 0; i < n; i += 100) {
      await producer.send([
        {
          topic,
          messages: values(p, i, Math.min(i + 100, n)).map((v) => ({ key: String(p), value: v, partition: p })),
        },
      ]);
    }
  }
}

beforeAll(async () => {
  await producer.connect();
  shared = await newTopic(3);
  producedAt = Date.now();
  await fill(shared, COUNTS);
});
afterAll(async () => {
  await producer.disconnect();
  await deleteTopics(kafka, made);
});

describe('readPartitions', () => {
  it('reads from the middle to the end, in order', async () => {
    const { got, next } = await read([{ partition: 0, offset: 200n }]);
    expect(got.get(0)!.map((r) => r.value)).toEqual(values(0, 200, 500));
    expect(got.get(0)!.map((r) => r.offset)).toEqual(Array.from({ length: 300 }, (_, k) => BigInt(200 + k)));
    expect([...got.keys()]).toEqual([0]); // nothing of the partitions not asked for
    expect(next).toEqual({ 0: 500n });
    for (const r of got.get(0)!) expect(Math.abs(r.timestamp - producedAt)).toBeLessThan(60_000);
  });

  it('reads from the earliest retained record with -1n', async () => {
    const { got, next } = await read([{ partition: 1, offset: -1n }]);
    expect(got.get(1)!.map((r) => r.value)).toEqual(values(1, 0, 300));
    expect(next).toEqual({ 1: 300n });
  });

  it('reads two partitions at once, each in order, and an empty one', async () => {
    const { got, next } = await read([
      { partition: 1, offset: 250n },
      { partition: 0, offset: -1n },
      { partition: 2, offset: -1n },
    ]);
    expect(got.get(0)!.map((r) => r.value)).toEqual(values(0, 0, 500));
    expect(got.get(1)!.map((r) => r.value)).toEqual(values(1, 250, 300));
    expect(got.has(2)).toBe(false);
    expect(next).toEqual({ 0: 500n, 1: 300n, 2: 0n });
  });

  it('makes no consumer when there is nothing to read, and returns where each partition ends', async () => {
    const { client, groups } = counting();
    const { got, next } = await read(
      [
        { partition: 0, offset: 500n },
        { partition: 1, offset: 300n },
        { partition: 2, offset: -1n },
      ],
      { kafka: client, log: silentLog },
    );
    expect(got.size).toBe(0);
    expect(next).toEqual({ 0: 500n, 1: 300n, 2: 0n });
    expect(groups).toEqual([]);
  });

  it('stops at the end it found when called, while records keep coming', async () => {
    const topic = await newTopic(1);
    await fill(topic, [200]);
    const later = Array.from({ length: 50 }, (_, i) => ({ key: '0', value: `later-${i}`, partition: 0 }));
    let more: Promise<unknown> | undefined;
    const got: string[] = [];
    const [res] = await readPartitions(
      { kafka, log: silentLog },
      topic,
      [{ partition: 0, offset: 0n }],
      async (_, offset, v) => {
        if (offset === 0n) await (more = producer.send([{ topic, messages: later }])); // lands before the read ends
        got.push(v.toString());
      },
    );
    await more;
    expect(got).toEqual(values(0, 0, 200));
    expect(res!.next).toBe(200n);
    const after = await read([{ partition: 0, offset: res!.next }], { kafka, log: silentLog }, topic);
    expect(after.got.get(0)!.map((r) => r.value)).toEqual(later.map((m) => m.value));
    expect(after.next).toEqual({ 0: 250n });
  });

  it('deletes its consumer group afterwards', async () => {
    const { client, groups } = counting();
    await read([{ partition: 1, offset: 290n }], { kafka: client, log: silentLog });
    expect(groups).toHaveLength(1);
    const listed = await withAdmin(kafka, (admin) => admin.listGroups());
    expect(listed.groups.map((g) => g.groupId)).not.toContain(groups[0]);
  });

  it('starts at the log start, and says so, when the retention deleted the records asked for', async () => {
    const topic = await newTopic(2);
    await fill(topic, [400, 50]);
    await withAdmin(kafka, async (admin) => {
      await admin.fetchTopicMetadata({ topics: [topic] }); // deleteTopicRecords needs the leaders known
      await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '150' }] });
    });
    const { log, lines } = capturingLog();
    const { got, next } = await read(
      [
        { partition: 0, offset: 20n },
        { partition: 1, offset: 10n },
      ],
      { kafka, log },
      topic,
    );
    expect(got.get(0)!.map((r) => r.value)).toEqual(values(0, 150, 400));
    expect(got.get(1)!.map((r) => r.value)).toEqual(values(1, 10, 50));
    expect(next).toEqual({ 0: 400n, 1: 50n });
    const deleted = lines.filter((l) => l.msg === 'changelog_records_deleted');
    expect(deleted).toEqual([
      expect.objectContaining({ topic, partition: 0, from: 20, logStart: 150, lost: 130, level: 40 }),
    ]);

    // -1n starts there too, without a word: nothing was asked for that is gone.
    const earliest = await read([{ partition: 0, offset: -1n }], { kafka, log }, topic);
    expect(earliest.got.get(0)![0]!.offset).toBe(150n);
    expect(lines.filter((l) => l.msg === 'changelog_records_deleted')).toHaveLength(1);
  });

  it('reads a partition larger than one fetch, in order', async () => {
    const topic = await newTopic(1);
    const n = 50_000; // about 11 MB, many fetches of a partition (1 MiB each)
    const big = (i: number) => `${String(i).padStart(8, '0')}${'v'.repeat(220)}`;
    for (let i = 0; i < n; i += 2_500) {
      // a batch under the broker's 1 MB message limit
      await producer.send([
        { topic, messages: Array.from({ length: 2_500 }, (_, k) => ({ key: null, value: big(i + k), partition: 0 })) },
      ]);
    }
    let expected = 0;
    let wrong = 0;
    const [res] = await readPartitions(
      { kafka, log: silentLog },
      topic,
      [{ partition: 0, offset: -1n }],
      (_, offset, v) => {
        if (offset !== BigInt(expected) || v.toString() !== big(expected)) wrong++;
        expected++;
      },
    );
    expect([expected, wrong, res!.next]).toEqual([n, 0, BigInt(n)]);
  }, 120_000);

  it.each([
    ['an offset past the end', [{ partition: 0, offset: 501n }], /changelog_behind_reader|ends at 500/],
    ['a partition the topic lacks', [{ partition: 3, offset: 0n }], /does not exist/],
    [
      'a partition twice',
      [
        { partition: 0, offset: 0n },
        { partition: 0, offset: 5n },
      ],
      /asked for twice/,
    ],
    ['an offset below -1', [{ partition: 0, offset: -2n }], /has no offset -2/],
  ])('refuses %s', async (_, from, message) => {
    const { client, groups } = counting();
    await expect(read(from, { kafka: client, log: silentLog })).rejects.toThrow(message);
    await expect(read(from, { kafka: client, log: silentLog })).rejects.toMatchObject({
      name: 'PipelineError',
      retriable: false,
    });
    expect(groups).toEqual([]);
  });

  it('throws the error of onRecord as it was, and reads nothing after it', async () => {
    const seen: bigint[] = [];
    const failure = new Error('the store is full');
    const reading = readPartitions({ kafka, log: silentLog }, shared, [{ partition: 0, offset: 0n }], (_, offset) => {
      seen.push(offset);
      if (offset === 42n) throw failure;
    });
    await expect(reading).rejects.toBe(failure);
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual(Array.from({ length: 43 }, (_, k) => BigInt(k)));
  });

  it('throws a retriable error when the broker cannot be reached or the topic is missing', async () => {
    const nowhere = new Kafka({
      clientId: 'changelog-reader-test',
      brokers: ['127.0.0.1:1'],
      logLevel: logLevel.NOTHING,
      retry: { retries: 1, initialRetryTime: 50 },
      connectionTimeout: 500,
    });
    await expect(
      readPartitions({ kafka: nowhere, log: silentLog }, shared, [{ partition: 0, offset: 0n }], () => {}),
    ).rejects.toMatchObject({ name: 'PipelineError', code: 'changelog_read_failed', retriable: true });
    const impatient = new Kafka({
      clientId: 'changelog-reader-test',
      brokers: env.KAFKA_BROKERS,
      logLevel: logLevel.NOTHING,
      retry: { retries: 1, initialRetryTime: 50 },
    });
    await expect(
      readPartitions(
        { kafka: impatient, log: silentLog },
        uniqueName('missing'),
        [{ partition: 0, offset: 0n }],
        () => {},
      ),
    ).rejects.toMatchObject({ name: 'PipelineError', code: 'changelog_read_failed', retriable: true });
  });
});
