// A Kafka outage while requests flow: no 202 for anything that is not in Kafka, 503 + Retry-After
// meanwhile, and recovery without restarting the collector. Skipped when the stack is not ours.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBeaconClient, EventType, type BeaconClient } from './sdk/client.js';
import { readTopic, startTestCollector } from './test-support.js';

const root = join(import.meta.dirname, '..');
const kafkaPidFile = join(root, '.stack/kafka.pid');

let c: Awaited<ReturnType<typeof startTestCollector>>;
let client: BeaconClient;
const acked: string[] = [];

async function sendOne(i: number): Promise<{ status: number; retryAfter: boolean }> {
  const e = client.event({ type: EventType.IMPRESSION, userId: `u${i % 7}`, deviceId: 'd', campaignId: 'c', creativeId: 'cr', placementId: 'p' });
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
  execFileSync('bash', [join(root, 'stack/stack.sh'), 'up'], { stdio: 'pipe' }); // whatever happened, leave Kafka up
  await c?.stop();
});

describe.skipIf(!existsSync(kafkaPidFile))('Kafka outage', () => {
  it('answers 503 while the broker is down, never 202, and recovers by itself', async () => {
    for (let i = 0; i < 20; i++) expect((await sendOne(i)).status).toBe(202);

    process.kill(Number(readFileSync(kafkaPidFile, 'utf8').split(' ')[0]), 'SIGKILL');
    const during: number[] = [];
    for (let i = 0; i < 30; i++) during.push((await sendOne(100 + i)).status);
    expect(new Set(during)).toEqual(new Set([503]));
    expect((await fetch(`${c.url}/readyz`)).status).toBe(503);

    execFileSync('bash', [join(root, 'stack/stack.sh'), 'up'], { stdio: 'pipe', timeout: 180_000 });
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
    const onTopic = new Set((await readTopic(c.kafka, c.topic, acked.length, 30_000)).flatMap((r) => r.value.events.map((e) => e.event!.eventId)));
    expect(acked.filter((id) => !onTopic.has(id))).toEqual([]);
  });
});
