// The producer against the stack's broker: keys on the Java client's partitions (or the partition a
// message names), every compression readable by kafkajs consumers, the base offsets it reports, and
// a resend after a lost answer written once, not twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTopics } from '../schemas/migrate.js';
import {
  consumeTopic,
  deleteTopics,
  env,
  killStackServer,
  silentLog,
  stackOwned,
  stackUp,
  uniqueName,
} from '../test/support.js';
import { createKafka } from './kafka.js';
import { createProducer } from './kafka-producer.js';
import { partitionOf } from './kafka-wire.js';

const kafka = createKafka({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'producer-test' }, { log: silentLog });
const made: string[] = [];
async function newTopic(partitions: number) {
  const name = uniqueName('produced');
  await ensureTopics([{ name, partitions, retentionMs: 3_600_000, key: 'user_id', value: '' }], {
    kafka,
    log: silentLog,
  });
  made.push(name);
  return name;
}
const readAll = (topic: string, n: number) =>
  consumeTopic(kafka, topic, { timeoutMs: 20_000, settleMs: 500, enough: (m) => m.length >= n });

afterAll(async () => {
  if (stackOwned) {
    killStackServer('kafka', 'SIGCONT');
    await stackUp();
  }
  await deleteTopics(kafka, made);
});

describe('the Kafka producer', () => {
  const producer = createProducer({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'producer-test' }, { log: silentLog });
  beforeAll(() => producer.connect());
  afterAll(() => producer.disconnect());

  it.each(['none', 'gzip', 'snappy'] as const)(
    'delivers keyed messages to the partitions the Java client picks (%s)',
    async (compression) => {
      const topic = await newTopic(6);
      const sent = Array.from({ length: 300 }, (_, i) => ({ key: `user-${i % 37}`, value: `${i}` }));
      for (let i = 0; i < sent.length; i += 100)
        await producer.send([{ topic, messages: sent.slice(i, i + 100) }], { compression });
      await producer.send([{ topic, messages: [{ key: null, value: 'no key' }] }], { compression });

      const read = await readAll(topic, sent.length + 1);
      expect(read).toHaveLength(sent.length + 1);
      for (const { message, partition } of read) {
        if (message.key) expect(partition).toBe(partitionOf(message.key, 6));
      }
      // One key's messages stay in the order they were sent.
      const of7 = read.filter((m) => String(m.message.key) === 'user-7').map((m) => Number(m.message.value));
      expect(of7).toEqual(sent.flatMap((s, i) => (s.key === 'user-7' ? [i] : [])));
    },
  );

  it('sends to several topics in one call, with record headers', async () => {
    const [a, b] = [await newTopic(2), await newTopic(3)];
    await producer.send([
      { topic: a, messages: [{ key: 'k', value: 'to a', headers: { reason: 'why', ключ: 'значение' } }] },
      { topic: b, messages: [{ key: 'k', value: 'to b' }] },
    ]);
    const [inA] = await readAll(a, 1);
    expect([
      String(inA!.message.value),
      String(inA!.message.headers!.reason),
      String(inA!.message.headers!['ключ']),
    ]).toEqual(['to a', 'why', 'значение']);
    expect((await readAll(b, 1)).map((m) => String(m.message.value))).toEqual(['to b']);
  });

  it('writes a message to the partition it names, whatever its key says', async () => {
    const topic = await newTopic(6);
    const keys = Array.from({ length: 60 }, (_, i) => `user-${i}`);
    const named = keys.map((key, i) => ({
      key,
      value: `named-${i}`,
      partition: (partitionOf(Buffer.from(key), 6) + 1 + (i % 5)) % 6,
    }));
    await producer.send([{ topic, messages: [...named, { key: 'user-0', value: 'keyed' }] }]);

    const read = await readAll(topic, named.length + 1);
    const where = new Map(read.map((m) => [String(m.message.value), m.partition]));
    for (const m of named) expect(where.get(m.value)).toBe(m.partition); // never the key's own partition
    expect(where.get('keyed')).toBe(partitionOf(Buffer.from('user-0'), 6));
  });

  it.each([-1, 3, 1.5, Number.NaN])(
    'refuses partition %s of a 3-partition topic, and sends on afterwards',
    async (partition) => {
      const topic = await newTopic(3);
      const sending = producer.send([
        {
          topic,
          messages: [
            { key: 'k', value: 'fine', partition: 0 },
            { key: 'k', value: 'bad', partition },
          ],
        },
      ]);
      await expect(sending).rejects.toMatchObject({
        name: 'PipelineError',
        code: 'kafka_bad_partition',
        retriable: false,
      });
      await producer.send([{ topic, messages: [{ key: 'k', value: 'after', partition: 2 }] }]);
      expect((await readAll(topic, 1)).map((m) => [String(m.message.value), m.partition])).toEqual([['after', 2]]); // nothing of the refused send
    },
  );

  it('resolves with the base offset of each partition batch it wrote', async () => {
    const [a, b] = [await newTopic(3), await newTopic(2)];
    const first = await producer.send([
      { topic: a, messages: [0, 0, 1, 0, 2, 2].map((partition, i) => ({ key: null, value: `a${i}`, partition })) },
      { topic: b, messages: [{ key: null, value: 'b0', partition: 1 }] },
    ]);
    const second = await producer.send([
      { topic: a, messages: [2, 0, 0].map((partition, i) => ({ key: null, value: `a${6 + i}`, partition })) },
    ]);
    const byTp = (w: { topic: string; partition: number; baseOffset: bigint }[]) =>
      Object.fromEntries(w.map((x) => [`${x.topic === a ? 'a' : 'b'}/${x.partition}`, x.baseOffset]));
    expect(byTp(first)).toEqual({ 'a/0': 0n, 'a/1': 0n, 'a/2': 0n, 'b/1': 0n });
    expect(first).toHaveLength(4); // one per partition touched
    expect(byTp(second)).toEqual({ 'a/2': 2n, 'a/0': 3n });

    // The offsets are where the records are: each batch's first record sits at its base offset.
    const read = await readAll(a, 9);
    const at = (partition: number, offset: bigint) =>
      String(read.find((m) => m.partition === partition && BigInt(m.message.offset) === offset)?.message.value);
    expect([at(0, 0n), at(1, 0n), at(2, 0n), at(2, 2n), at(0, 3n)]).toEqual(['a0', 'a2', 'a4', 'a6', 'a7']);
  });

  it('resolves with nothing when there is nothing to send', async () => {
    expect(await producer.send([])).toEqual([]);
    expect(await producer.send([{ topic: uniqueName('unused'), messages: [] }])).toEqual([]);
  });

  it('refuses a topic that does not exist', async () => {
    const impatient = createProducer(
      { KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'producer-test', deliveryTimeoutMs: 1_000 },
      { log: silentLog },
    );
    await expect(
      impatient.send([{ topic: uniqueName('missing'), messages: [{ key: 'k', value: 'v' }] }]),
    ).rejects.toThrow(/unknown_topic_or_partition/);
    await impatient.disconnect();
  });
});

describe.skipIf(!stackOwned)('the Kafka producer while the broker freezes', () => {
  it('resends a batch whose answer was lost, and the broker keeps one copy', async () => {
    const topic = await newTopic(1);
    const producer = createProducer(
      { KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'producer-test', requestTimeoutMs: 300, deliveryTimeoutMs: 20_000 },
      { log: silentLog },
    );
    try {
      await producer.send([{ topic, messages: [{ key: 'u', value: 'before' }] }]);
      killStackServer('kafka', 'SIGSTOP');
      const during = producer.send([{ topic, messages: [{ key: 'u', value: 'during' }] }]);
      await new Promise((r) => setTimeout(r, 1_500)); // several attempts time out meanwhile
      killStackServer('kafka', 'SIGCONT');
      const [written] = await during;
      // The broker answers a resent batch it already holds with the offset it wrote it at.
      expect([1n, -1n]).toContain(written!.baseOffset);
      await producer.send([{ topic, messages: [{ key: 'u', value: 'after' }] }]);
      expect((await readAll(topic, 3)).map((m) => String(m.message.value))).toEqual(['before', 'during', 'after']);
    } finally {
      killStackServer('kafka', 'SIGCONT');
      await producer.disconnect();
    }
  }, 60_000);

  it('fails a send it cannot deliver in time, then delivers the next under a new producer id', async () => {
    const topic = await newTopic(1);
    const producer = createProducer(
      { KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'producer-test', deliveryTimeoutMs: 1_000 },
      { log: silentLog },
    );
    try {
      await producer.send([{ topic, messages: [{ key: 'u', value: 'before' }] }]);
      killStackServer('kafka', 'SIGSTOP');
      await expect(producer.send([{ topic, messages: [{ key: 'u', value: 'unanswered' }] }])).rejects.toThrow();
      killStackServer('kafka', 'SIGCONT');
      await producer.send([{ topic, messages: [{ key: 'u', value: 'after' }] }]);
      const values = (await readAll(topic, 3)).map((m) => String(m.message.value));
      expect(values.filter((v) => v !== 'unanswered')).toEqual(['before', 'after']); // 'unanswered' may or may not have landed
    } finally {
      killStackServer('kafka', 'SIGCONT');
      await producer.disconnect();
    }
  }, 60_000);
});
