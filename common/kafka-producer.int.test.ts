// The producer against the stack's broker: keys on the Java client's partitions, every compression
// readable by kafkajs consumers, and a resend after a lost answer written once, not twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTopics } from '../schemas/migrate.js';
import { consumeTopic, deleteTopics, env, killStackServer, silentLog, stackOwned, stackUp, uniqueName } from '../test/support.js';
import { createKafka } from './kafka.js';
import { createProducer } from './kafka-producer.js';
import { partitionOf } from './kafka-wire.js';

const kafka = createKafka({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'producer-test' }, { log: silentLog });
const made: string[] = [];
async function newTopic(partitions: number) {
  const name = uniqueName('produced');
  await ensureTopics([{ name, partitions, retentionMs: 3_600_000, key: 'user_id', value: '' }], { kafka, log: silentLog });
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

  it.each(['none', 'gzip', 'snappy'] as const)('delivers keyed messages to the partitions the Java client picks (%s)', async (compression) => {
    const topic = await newTopic(6);
    const sent = Array.from({ length: 300 }, (_, i) => ({ key: `user-${i % 37}`, value: `${i}` }));
    for (let i = 0; i < sent.length; i += 100) await producer.send([{ topic, messages: sent.slice(i, i + 100) }], { compression });
    await producer.send([{ topic, messages: [{ key: null, value: 'no key' }] }], { compression });

    const read = await readAll(topic, sent.length + 1);
    expect(read).toHaveLength(sent.length + 1);
    for (const { message, partition } of read) {
      if (message.key) expect(partition).toBe(partitionOf(message.key, 6));
    }
    // One key's messages stay in the order they were sent.
    const of7 = read.filter((m) => String(m.message.key) === 'user-7').map((m) => Number(m.message.value));
    expect(of7).toEqual(sent.flatMap((s, i) => (s.key === 'user-7' ? [i] : [])));
  });

  it('sends to several topics in one call, with record headers', async () => {
    const [a, b] = [await newTopic(2), await newTopic(3)];
    await producer.send([{ topic: a, messages: [{ key: 'k', value: 'to a', headers: { reason: 'why', 'ключ': 'значение' } }] }, { topic: b, messages: [{ key: 'k', value: 'to b' }] }]);
    const [inA] = await readAll(a, 1);
    expect([String(inA!.message.value), String(inA!.message.headers!.reason), String(inA!.message.headers!['ключ'])]).toEqual(['to a', 'why', 'значение']);
    expect((await readAll(b, 1)).map((m) => String(m.message.value))).toEqual(['to b']);
  });

  it('refuses a topic that does not exist', async () => {
    const impatient = createProducer({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'producer-test', deliveryTimeoutMs: 1_000 }, { log: silentLog });
    await expect(impatient.send([{ topic: uniqueName('missing'), messages: [{ key: 'k', value: 'v' }] }])).rejects.toThrow(/unknown_topic_or_partition/);
    await impatient.disconnect();
  });
});

describe.skipIf(!stackOwned)('the Kafka producer while the broker freezes', () => {
  it('resends a batch whose answer was lost, and the broker keeps one copy', async () => {
    const topic = await newTopic(1);
    const producer = createProducer({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'producer-test', requestTimeoutMs: 300, deliveryTimeoutMs: 20_000 }, { log: silentLog });
    try {
      await producer.send([{ topic, messages: [{ key: 'u', value: 'before' }] }]);
      killStackServer('kafka', 'SIGSTOP');
      const during = producer.send([{ topic, messages: [{ key: 'u', value: 'during' }] }]);
      await new Promise((r) => setTimeout(r, 1_500)); // several attempts time out meanwhile
      killStackServer('kafka', 'SIGCONT');
      await during;
      await producer.send([{ topic, messages: [{ key: 'u', value: 'after' }] }]);
      expect((await readAll(topic, 3)).map((m) => String(m.message.value))).toEqual(['before', 'during', 'after']);
    } finally {
      killStackServer('kafka', 'SIGCONT');
      await producer.disconnect();
    }
  }, 60_000);

  it('fails a send it cannot deliver in time, then delivers the next under a new producer id', async () => {
    const topic = await newTopic(1);
    const producer = createProducer({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'producer-test', deliveryTimeoutMs: 1_000 }, { log: silentLog });
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
