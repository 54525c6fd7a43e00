// The Node SDK against the real collector: what one process tracked while the collector could not
// be reached, the next process sends from the file, once.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../../test/support.js';
import { readTopic, startTestCollector } from '../test-support.js';
import { createTracker, EventType } from './node.js';

let c: Awaited<ReturnType<typeof startTestCollector>>;
beforeAll(async () => {
  c = await startTestCollector();
});
afterAll(() => c?.stop());

it('sends from the file what a process before it could not, each event once', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'sdk-node-')), 'events.log');
  const config = { appId: 'test.app', ...c.key, file, flushAt: 1, baseDelayMs: 10_000 };
  const offline = createTracker({ ...config, endpoint: `http://127.0.0.1:${await freePort()}` });
  const ad = { userId: 'u', deviceId: 'd', campaignId: 'camp', creativeId: 'cr', placementId: 'pl' };
  const ids: string[] = [];
  for (const type of [EventType.IMPRESSION, EventType.CLICK, EventType.CONVERSION])
    ids.push((await offline.track({ ...ad, type })).eventId!);
  await offline.close(); // its sends failed: all three stay in the file
  expect(offline.pending).toBe(3);

  const next = createTracker({ ...config, endpoint: c.url });
  await next.flush();
  expect(next.pending).toBe(0);
  const records = await readTopic(c.kafka, c.topic, (seen) => ids.every((id) => seen.includes(id)));
  const sent = records.flatMap((r) => r.value.events.map((e) => e.event!.eventId!));
  expect(sent.sort()).toEqual([...ids].sort());
  await next.close();
});
