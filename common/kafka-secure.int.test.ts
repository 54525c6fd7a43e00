// Every Kafka client of the project against the local stack's TLS + SASL listener (stack.sh: its own
// CA, user "ads" with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN credentials): the collector end to end,
// the producer with each mechanism, and the refusals a wrong password or an untrusted broker get.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SaslMechanism } from './config.js';
import { createKafka, withAdmin } from './kafka.js';
import { createProducer } from './kafka-producer.js';
import { createBeaconClient, EventType } from '../ingest/sdk/client.js';
import { readTopic, startTestCollector } from '../ingest/test-support.js';
import { deleteTopics, securedKafka, silentLog, uniqueName } from '../test/support.js';

const secure = (mechanism: SaslMechanism, password?: string) => ({
  ...securedKafka.sasl(mechanism, password),
  clientId: 'secure-test',
});

describe('a service over TLS + SCRAM', () => {
  let c: Awaited<ReturnType<typeof startTestCollector>>;
  beforeAll(async () => {
    // As environment variables, the way a service reads them (a list of brokers as comma-separated text).
    const settings = Object.entries(securedKafka.sasl('scram-sha-512')).map(([k, v]) => [k, String(v)]);
    c = await startTestCollector(Object.fromEntries(settings));
  });
  afterAll(() => c?.stop());

  it('the collector puts a signed beacon on its topic, and a kafkajs consumer reads it back', async () => {
    const client = createBeaconClient({ endpoint: c.url, appId: 'test.app', ...c.key, maxAttempts: 1 });
    const event = client.event({
      type: EventType.IMPRESSION,
      userId: 'alice',
      deviceId: 'd-alice',
      campaignId: 'camp',
      creativeId: 'cr',
      placementId: 'pl',
    });
    expect(await client.send([event])).toMatchObject({ status: 202, accepted: 1 });
    const records = await readTopic(c.kafka, c.topic, 1);
    expect(records.map((r) => r.value.events[0]!.event!.eventId)).toEqual([event.eventId]);
  });
});

describe('the producer and kafkajs over TLS + SASL', () => {
  const topic = uniqueName('secure');
  const kafka = createKafka(secure('scram-sha-256'), { log: silentLog });
  beforeAll(() => withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })));
  afterAll(() => deleteTopics(kafka, [topic]));

  it.each(['plain', 'scram-sha-256', 'scram-sha-512'] as const)('authenticates with %s and writes', async (mech) => {
    const producer = createProducer(secure(mech), { log: silentLog });
    try {
      const [written] = await producer.send([{ topic, messages: [{ key: mech, value: 'v' }] }]);
      const ends = await withAdmin(kafka, (admin) => admin.fetchTopicOffsets(topic));
      expect(BigInt(ends[0]!.high)).toBe(written!.baseOffset + 1n);
    } finally {
      await producer.disconnect();
    }
  });

  it('a wrong password is refused at once, not retried until the delivery timeout', async () => {
    const producer = createProducer(
      { ...secure('scram-sha-256', 'not-the-password'), deliveryTimeoutMs: 20_000 },
      { log: silentLog },
    );
    const started = Date.now();
    await expect(producer.send([{ topic, messages: [{ key: 'k', value: 'v' }] }])).rejects.toMatchObject({
      code: 'kafka_sasl_failed',
      retriable: false,
      message: expect.stringMatching(/refused by 127\.0\.0\.1.*invalid credentials/),
    });
    expect(Date.now() - started).toBeLessThan(5_000);
    const wrong = createKafka(secure('scram-sha-512', 'not-the-password'), { log: silentLog });
    await expect(withAdmin(wrong, (admin) => admin.listTopics())).rejects.toThrow(
      /SASL SCRAM SHA512 authentication failed/,
    );
  });

  it('a broker whose certificate no trusted CA signed is refused', async () => {
    const { KAFKA_SSL_CA_FILE: _, ...publicCAs } = secure('scram-sha-256');
    const producer = createProducer({ ...publicCAs, KAFKA_SSL: true }, { log: silentLog });
    await expect(producer.send([{ topic, messages: [{ key: 'k', value: 'v' }] }])).rejects.toMatchObject({
      code: 'kafka_tls_failed',
      retriable: false,
      message: expect.stringMatching(/self-signed certificate in certificate chain/),
    });
  });
});

describe('the producer and kafkajs over mutual TLS', () => {
  const mutual = (withCertificate: boolean) => ({ ...securedKafka.mutual(withCertificate), clientId: 'mtls-test' });
  const topic = uniqueName('mtls');
  const kafka = createKafka(mutual(true), { log: silentLog });
  beforeAll(() => withAdmin(kafka, (admin) => admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })));
  afterAll(() => deleteTopics(kafka, [topic]));

  it('writes with the client certificate the stack CA signed', async () => {
    const producer = createProducer(mutual(true), { log: silentLog });
    try {
      const [written] = await producer.send([{ topic, messages: [{ key: 'k', value: 'v' }] }]);
      const ends = await withAdmin(kafka, (admin) => admin.fetchTopicOffsets(topic));
      expect(BigInt(ends[0]!.high)).toBe(written!.baseOffset + 1n);
    } finally {
      await producer.disconnect();
    }
  });

  it('is refused without one, at once', async () => {
    const producer = createProducer({ ...mutual(false), deliveryTimeoutMs: 20_000 }, { log: silentLog });
    const started = Date.now();
    await expect(producer.send([{ topic, messages: [{ key: 'k', value: 'v' }] }])).rejects.toMatchObject({
      code: 'kafka_tls_failed',
      retriable: false,
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
