// A Kafka outage while requests flow: no 202 for anything that is not in Kafka, 503 + Retry-After
// meanwhile, and recovery without restarting the collector. Skipped when the stack is not ours.
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
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
import { createKafkaSink } from './kafka-sink.js';
import { createBeaconClient, EventType, type BeaconClient } from './sdk/client.js';
import { readTopic, startTestCollector } from './test-support.js';

let c: Awaited<ReturnType<typeof startTestCollector>>;
let client: BeaconClient;
const acked: string[] = [];

async function sendOne(i: number): Promise<{ status: number; retryAfter: boolean }> {
  const e = client.event({
    type: EventType.IMPRESSION,
    userId: `u${i % 7}`,
    deviceId: 'd',
    campaignId: 'c',
    creativeId: 'cr',
    placementId: 'p',
  });
  try {
    await client.send([e]);
    acked.push(e.eventId!);
    return { status: 202, retryAfter: false };
  } catch (err) {
    return { status: (err as { status: number }).status, retryAfter: true };
  }
}

beforeAll(async () => {
  c = await startTestCollector({ INGEST_SEND_TIMEOUT_MS: '2000' });
  client = createBeaconClient({ endpoint: c.url, appId: 'test.app', ...c.key, maxAttempts: 1 });
});
afterAll(async () => {
  if (stackOwned) {
    killStackServer('kafka', 'SIGCONT');
    await stackUp(); // whatever happened, leave Kafka up
  }
  await c?.stop();
});

describe.skipIf(!stackOwned)('Kafka outage', () => {
  it('answers 503 while the broker is down, never 202, and recovers by itself', async () => {
    for (let i = 0; i < 20; i++) expect((await sendOne(i)).status).toBe(202);

    killStackServer('kafka');
    const during: number[] = [];
    for (let i = 0; i < 30; i++) during.push((await sendOne(100 + i)).status);
    expect(new Set(during)).toEqual(new Set([503]));
    expect((await fetch(`${c.url}/readyz`)).status).toBe(503);

    await stackUp();
    let ready = false;
    for (let i = 0; i < 120 && !ready; i++) {
      ready = (await fetch(`${c.url}/readyz`)).status === 200;
      if (!ready) await sleep(500);
    }
    expect(ready).toBe(true);
    let after = 0;
    for (let i = 0; i < 20; i++) if ((await sendOne(200 + i)).status === 202) after++;
    expect(after).toBe(20);

    // Every event answered 202 is in Kafka (duplicates from retried sends are allowed).
    const onTopic = new Set(
      (await readTopic(c.kafka, c.topic, acked.length, 30_000)).flatMap((r) =>
        r.value.events.map((e) => e.event!.eventId),
      ),
    );
    expect(acked.filter((id) => !onTopic.has(id))).toEqual([]);
  });

  it('never takes a send for the duplicate of one whose answer was lost', async () => {
    // A send the broker may have written but never answered (the broker froze) fails after its
    // delivery timeout. Had the next send reused its sequence numbers, the broker would acknowledge
    // it as the duplicate of the first and drop it: a 202 for data not in Kafka.
    const kafka = new Kafka({
      clientId: 'outage-test',
      brokers: env.KAFKA_BROKERS,
      requestTimeout: 1_000,
      logLevel: logLevel.NOTHING,
    });
    const topic = uniqueName('beacons');
    await ensureTopics([{ name: topic, partitions: 1, retentionMs: 3_600_000, key: 'user_id', value: '' }], {
      kafka,
      log: silentLog,
    });
    const sink = await createKafkaSink(
      {
        KAFKA_BROKERS: env.KAFKA_BROKERS,
        topic,
        producers: 1,
        compression: 'none',
        sendTimeoutMs: 500,
        auditSampleRate: 0,
        auditMaxPerS: 0,
      },
      { log: silentLog, onAudit: () => {} },
    );
    const record = (value: string) => [{ key: 'u', value: Buffer.from(value), events: 1 }];
    try {
      await sink.send(record('before'));
      killStackServer('kafka', 'SIGSTOP');
      await expect(sink.send(record('unanswered'))).rejects.toThrow();
      killStackServer('kafka', 'SIGCONT');
      while (!sink.healthy()) await sleep(100);
      await sink.send(record('after'));
      const values = (
        await consumeTopic(kafka, topic, {
          timeoutMs: 20_000,
          settleMs: 1_000,
          enough: (m) => m.some((x) => String(x.message.value) === 'after'),
        })
      ).map((m) => String(m.message.value));
      expect(values).toContain('after');
    } finally {
      killStackServer('kafka', 'SIGCONT');
      await sink.stop();
      await deleteTopics(kafka, [topic]);
    }
  }, 60_000);
});
