import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BeaconEvent } from '../../schemas/beacon-json.js';
import { BeaconError, EventType, type SendResult } from './client.js';
import { createQueue, memoryStorage, type QueueConfig, type QueueStorage } from './queue.js';
import { fileStorage } from './storage-file.js';

const T0 = 1_700_000_000_000;
let n = 0;
const event = (over: Partial<BeaconEvent> = {}): BeaconEvent => ({
  eventId: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
  type: EventType.IMPRESSION,
  occurredAt: Date.now(),
  userId: 'u',
  deviceId: 'd',
  campaignId: 'c',
  creativeId: 'cr',
  placementId: 'p',
  ...over,
});

/** A collector that answers each send from `replies` (then 202), recording the batches' ids. */
function collector(replies: (SendResult | BeaconError | Error)[] = []) {
  const batches: { ids: string[]; keepalive: boolean }[] = [];
  const send = async (events: BeaconEvent[], opts: { keepalive?: boolean }) => {
    batches.push({ ids: events.map((e) => e.eventId!), keepalive: opts.keepalive ?? false });
    const r = replies.shift();
    if (r instanceof Error) throw r;
    return r ?? { status: 202, accepted: events.length, rejected: [], attempts: 1 };
  };
  return { send, batches, ids: () => batches.flatMap((b) => b.ids) };
}

function start(c: ReturnType<typeof collector>, config: QueueConfig = {}, storage: QueueStorage = memoryStorage()) {
  const dropped: [string, string][] = [];
  const sent: string[] = [];
  const queue = createQueue(config, {
    send: c.send,
    onSend: (events) => sent.push(...events.map((e) => e.eventId!)),
    storage,
    random: () => 0.5,
    onDrop: (events, reason) => events.forEach((e) => dropped.push([e.eventId!, reason])),
  });
  return { queue, storage, dropped, sent };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => vi.useRealTimers());

describe('the SDK queue', () => {
  it('sends at flushAt at once, and what is fewer after flushIntervalMs', async () => {
    const c = collector();
    const { queue, sent } = start(c, { flushAt: 3, flushIntervalMs: 1_000 });
    const events = [event(), event(), event(), event()];
    for (const e of events.slice(0, 3)) await queue.push(e);
    await vi.advanceTimersByTimeAsync(0);
    expect(c.batches.map((b) => b.ids.length)).toEqual([3]);
    await queue.push(events[3]!);
    await vi.advanceTimersByTimeAsync(999);
    expect(c.batches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.ids()).toEqual(events.map((e) => e.eventId));
    expect([queue.size, sent]).toEqual([0, c.ids()]);
  });

  it('keeps a batch through network errors, 429 and 503, backing off, and sends it with the same ids', async () => {
    const c = collector([
      new BeaconError(0, 'network_error', 'offline', 1),
      new BeaconError(503, 'broker_unavailable', '', 1, 2),
      new BeaconError(429, 'app_rate_limited', '', 1, 30),
    ]);
    const { queue, storage } = start(c, { flushAt: 1, baseDelayMs: 1_000 });
    const e = event();
    await queue.push(e);
    await vi.advanceTimersByTimeAsync(0); // fails: next after 0.5 · 1 s
    await vi.advanceTimersByTimeAsync(499);
    expect(c.batches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1); // 503: Retry-After 2 s beats 0.5 · 2 s
    await vi.advanceTimersByTimeAsync(1_999);
    expect(c.batches).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1); // 429: Retry-After 30 s
    await queue.push(event()); // a push during the backoff waits for it too
    await vi.advanceTimersByTimeAsync(29_000);
    expect(c.batches).toHaveLength(3);
    expect((await storage.all()).length).toBe(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(c.batches.map((b) => b.ids)).toEqual([
      [e.eventId],
      [e.eventId],
      [e.eventId],
      [e.eventId, expect.any(String)],
    ]);
    expect(await storage.all()).toEqual([]);
  });

  it.each([400, 401, 403, 413, 415])(
    'drops a batch refused with %i, which no retry changes, and goes on',
    async (status) => {
      const c = collector([new BeaconError(status, 'refused', '', 1)]);
      const { queue, storage, dropped } = start(c, { flushAt: 1 });
      const [bad, good] = [event(), event()];
      await queue.push(bad);
      await vi.advanceTimersByTimeAsync(0);
      await queue.push(good);
      await vi.advanceTimersByTimeAsync(0);
      expect([dropped, c.ids(), await storage.all()]).toEqual([
        [[bad.eventId, 'refused']],
        [bad.eventId, good.eventId],
        [],
      ]);
    },
  );

  it('reports events the collector rejected one by one, and removes them with the batch', async () => {
    const c = collector([
      { status: 202, accepted: 1, rejected: [{ index: 1, reason: 'user_id: empty' }], attempts: 1 },
    ]);
    const { queue, storage, dropped } = start(c, { flushAt: 2 });
    const [a, b] = [event(), event({ userId: '' })];
    await queue.push(a);
    await queue.push(b);
    await vi.advanceTimersByTimeAsync(0);
    expect([dropped, await storage.all()]).toEqual([[[b.eventId, 'user_id: empty']], []]);
  });

  it('sends what a previous page or process left in the store, once, at start', async () => {
    const storage = memoryStorage();
    const left = [event(), event()];
    await storage.add(left);
    const c = collector();
    const { queue } = start(c, {}, storage);
    await queue.push(event());
    await vi.advanceTimersByTimeAsync(0);
    expect(c.batches.map((b) => b.ids.length)).toEqual([3]);
    expect(c.ids().slice(0, 2)).toEqual(left.map((e) => e.eventId));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(c.batches).toHaveLength(1);
  });

  it('drops the oldest past maxQueued, and events too old for the collector', async () => {
    const c = collector([new BeaconError(0, 'network_error', 'offline', 1)]);
    const { queue, dropped } = start(c, { flushAt: 100, maxQueued: 2, maxAgeMs: 60_000, flushIntervalMs: 1_000 });
    const [old, a, b] = [event({ occurredAt: T0 - 120_000 }), event(), event()];
    for (const e of [old, a, b]) await queue.push(e);
    expect(dropped).toEqual([[old.eventId, 'queue_full']]);
    const stale = event({ occurredAt: T0 - 61_000 });
    await queue.push(stale); // a's turn to go: queue_full
    await vi.advanceTimersByTimeAsync(1_000);
    expect(dropped).toEqual([
      [old.eventId, 'queue_full'],
      [a.eventId, 'queue_full'],
      [stale.eventId, 'expired'],
    ]);
    expect(c.ids()).toEqual([b.eventId]);
  });

  it('sends everything in keepalive batches of at most 60 kB when the page goes away, without waiting on the backoff', async () => {
    const c = collector([new BeaconError(0, 'network_error', 'offline', 1)]);
    const { queue } = start(c, { flushAt: 1_000, maxBatch: 500 });
    await queue.push(event());
    await queue.flush(); // fails: backing off
    for (let i = 0; i < 150; i++) await queue.push(event({ attrs: { note: 'x'.repeat(200) } }));
    queue.leave();
    await vi.advanceTimersByTimeAsync(0);
    const last = c.batches.slice(1);
    expect(last.every((b) => b.keepalive && b.ids.length <= 100)).toBe(true);
    expect(last.length).toBeGreaterThan(1); // 150 events of ~350 bytes pass 60 kB
    expect(new Set(last.flatMap((b) => b.ids)).size).toBe(151);
  });

  it('sends each event once when the page is hidden and then goes away (two last flushes at once)', async () => {
    const c = collector();
    const { queue } = start(c, { flushAt: 100 });
    for (let i = 0; i < 3; i++) await queue.push(event());
    queue.leave();
    queue.leave();
    await vi.advanceTimersByTimeAsync(0);
    expect(c.ids().length).toBe(3);
  });

  it('keeps going in memory when the store fails', async () => {
    const broken: QueueStorage = {
      all: () => Promise.reject(new Error('private window')),
      add: () => Promise.reject(new Error('quota')),
      remove: () => Promise.reject(new Error('quota')),
    };
    const c = collector();
    const { queue } = start(c, { flushAt: 2 }, broken);
    const events = [event(), event()];
    for (const e of events) await queue.push(e);
    await vi.advanceTimersByTimeAsync(0);
    expect([c.ids(), queue.size]).toEqual([events.map((e) => e.eventId), 0]);
  });
});

describe('fileStorage', () => {
  it('keeps events across a restart, in order, and skips a line a crash cut short', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'sdk-queue-')), 'q', 'events.log');
    const first = fileStorage(path);
    const events = [event(), event(), event()];
    await first.add(events);
    await first.remove([events[1]!.eventId!]);
    writeFileSync(path, `${readFileSync(path, 'utf8')}+{"eventId":"cut`);
    expect((await fileStorage(path).all()).map((e) => e.eventId)).toEqual([events[0]!.eventId, events[2]!.eventId]);
  });

  it('rewrites the journal to the live events once removals outnumber them', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'sdk-queue-')), 'events.log');
    const s = fileStorage(path);
    const events = Array.from({ length: 100 }, () => event());
    await s.add(events);
    await s.remove(events.slice(0, 90).map((e) => e.eventId!));
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect([lines.length, lines.every((l) => l.startsWith('+'))]).toEqual([10, true]);
    expect((await fileStorage(path).all()).length).toBe(10);
  });
});
