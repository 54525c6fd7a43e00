import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BeaconEvent } from '../../schemas/beacon-json.js';
import { beaconEvent, NOW as T0 } from '../../test/beacon-event.js';
import { BeaconError, type SendResult } from './client.js';
import { createQueue, memoryStorage, type QueueConfig, type QueueDeps, type QueueStorage } from './queue.js';
import { fileStorage } from './storage-file.js';

let n = 0;
const event = (over: Partial<BeaconEvent> = {}) =>
  beaconEvent({ eventId: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`, occurredAt: Date.now(), ...over });
type Reply = SendResult | Error | Promise<SendResult>;

/** A collector that answers each send from `replies` (then 202), recording the batches. */
function collector(replies: Reply[] = []) {
  const batches: { ids: string[]; keepalive: boolean; bytes: number }[] = [];
  const send = async (events: BeaconEvent[], opts: { keepalive?: boolean }) => {
    const bytes = new TextEncoder().encode(JSON.stringify(events)).length;
    batches.push({ ids: events.map((e) => e.eventId!), keepalive: opts.keepalive ?? false, bytes });
    const r = replies.shift();
    if (r instanceof Error) throw r;
    return (await r) ?? { status: 202, accepted: events.length, rejected: [], attempts: 1 };
  };
  return { send, batches, ids: () => batches.flatMap((b) => b.ids) };
}

function start(
  c: ReturnType<typeof collector>,
  config: QueueConfig = {},
  storage: QueueStorage = memoryStorage(),
  deps: Partial<QueueDeps> = {},
) {
  const dropped: [string, string][] = [];
  const sent: string[] = [];
  const queue = createQueue(config, {
    send: c.send,
    onSend: (events) => sent.push(...events.map((e) => e.eventId!)),
    storage,
    random: () => 0.5,
    onDrop: (events, reason) => events.forEach((e) => dropped.push([e.eventId!, reason])),
    ...deps,
  });
  return { queue, storage, dropped, sent };
}

/** A reply that waits for `release`. */
function held() {
  let release!: (r?: SendResult) => void;
  const reply = new Promise<SendResult>((resolve) => {
    release = (r) => resolve(r ?? { status: 202, accepted: 0, rejected: [], attempts: 1 });
  });
  return { reply, release };
}
const offline = () => new BeaconError(0, 'network_error', 'offline', 1);

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
      offline(),
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
    const c = collector([offline()]);
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

  it('sends what waits in keepalive requests of at most 64 KiB in all when the page goes away, whatever the backoff', async () => {
    const first = held();
    const c = collector([offline(), first.reply]);
    const { queue } = start(c, { flushAt: 1_000, maxBatch: 500 });
    await queue.push(event());
    await queue.flush(); // fails: backing off 0.5 s
    // 150 events of about 800 UTF-8 bytes (300 characters): 120 kB, twice what fits
    for (let i = 0; i < 150; i++) await queue.push(event({ attrs: { note: '汉'.repeat(200) } }));
    queue.leave();
    await vi.advanceTimersByTimeAsync(0);
    const last = c.batches.slice(1);
    expect(last.every((b) => b.keepalive && b.ids.length <= 100)).toBe(true);
    const inFlight = last.reduce((sum, b) => sum + b.bytes, 0);
    expect(inFlight).toBeLessThan(60_000);
    expect(inFlight).toBeGreaterThan(50_000);
    queue.leave(); // hidden, then gone: the quota is still taken by the requests in flight
    expect(c.batches.length).toBe(1 + last.length);
    first.release();
    await vi.advanceTimersByTimeAsync(1_000); // the page stayed after all: the rest goes as usual
    expect(new Set(c.ids()).size).toBe(151);
    expect(queue.size).toBe(0);
  });

  it('sends again in a keepalive request what is in a regular request when the page goes away', async () => {
    const regular = held();
    const c = collector([regular.reply]);
    const { queue } = start(c, { flushAt: 2 });
    const events = [event(), event()];
    for (const e of events) await queue.push(e); // in flight, which the closing page cancels
    queue.leave();
    await vi.advanceTimersByTimeAsync(0);
    expect(c.batches.map((b) => [b.ids, b.keepalive])).toEqual([
      [events.map((e) => e.eventId), false],
      [events.map((e) => e.eventId), true],
    ]);
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

  it('splits a batch refused with 413 and sends every event of it, fewer at a time', async () => {
    const c = collector([new BeaconError(413, 'body_too_large', '', 1)]);
    const { queue, dropped } = start(c, { flushAt: 4 });
    const events = [event(), event(), event(), event()];
    for (const e of events) await queue.push(e);
    await vi.advanceTimersByTimeAsync(0);
    expect(c.batches.map((b) => b.ids.length)).toEqual([4, 2, 2]);
    expect([dropped, queue.size]).toEqual([[], 0]);
  });

  it.each([404, 408, 409])(
    'keeps a batch answered %i (not the collector saying no) and tries it again',
    async (status) => {
      const c = collector([new BeaconError(status, 'odd', '', 1)]);
      const { queue, dropped } = start(c, { flushAt: 1 });
      await queue.push(event());
      await vi.advanceTimersByTimeAsync(1_000);
      expect([c.batches.length, dropped, queue.size]).toEqual([2, [], 0]);
    },
  );

  it('caps a Retry-After at maxDelayMs, however long, and never spins', async () => {
    const c = collector([new BeaconError(429, 'app_rate_limited', '', 1, 1e10)]); // 317 years
    const { queue } = start(c, { flushAt: 1 });
    await queue.push(event());
    await vi.advanceTimersByTimeAsync(299_000);
    expect(c.batches.length).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect([c.batches.length, queue.size]).toEqual([2, 0]);
  });

  it('sends and keeps its limits when the store never answers (IndexedDB can hang)', async () => {
    const hung: QueueStorage = {
      all: () => new Promise(() => {}),
      add: () => new Promise(() => {}),
      remove: () => new Promise(() => {}),
    };
    const c = collector([offline()]);
    const { queue, dropped } = start(c, { flushAt: 1, maxQueued: 3 }, hung);
    const events = [event(), event(), event(), event()];
    for (const e of events) void queue.push(e);
    expect(dropped).toEqual([[events[0]!.eventId, 'queue_full']]); // evicted as pushed, not after the store
    await vi.advanceTimersByTimeAsync(10_000);
    expect(new Set(c.ids())).toEqual(new Set(events.slice(1).map((e) => e.eventId)));
    expect(queue.size).toBe(0);
  });

  it('splits batches after a 413 only while that backlog lasts', async () => {
    const c = collector([new BeaconError(413, 'body_too_large', '', 1)]);
    const { queue } = start(c, { flushAt: 4 });
    for (let i = 0; i < 4; i++) await queue.push(event());
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 4; i++) await queue.push(event());
    await vi.advanceTimersByTimeAsync(0);
    expect(c.batches.map((b) => b.ids.length)).toEqual([4, 2, 2, 4]);
  });

  it('sends at once on flush(), whatever the backoff', async () => {
    const c = collector([new BeaconError(503, 'broker_unavailable', '', 1, 300)]);
    const { queue } = start(c, { flushAt: 1 });
    await queue.push(event());
    await vi.advanceTimersByTimeAsync(0); // 503, Retry-After 5 min
    await queue.flush(); // the app says the network is back
    expect([c.batches.length, queue.size]).toEqual([2, 0]);
  });

  it('is not stopped by an event it cannot encode: that one is dropped, the rest go', async () => {
    const storage = memoryStorage();
    const bad = event({ valueMicros: 2.5 }); // left by an older SDK, or a store changed by hand
    await storage.add([bad]);
    const c = collector();
    const { queue, dropped } = start(c, { flushAt: 1 }, storage);
    const good = event();
    await queue.push(good);
    await vi.advanceTimersByTimeAsync(0);
    expect(dropped).toEqual([[bad.eventId, 'unencodable: valueMicros: expected a safe integer, got 2.5']]);
    expect([c.ids(), queue.size]).toEqual([[good.eventId], 0]);
    // what the client refuses to encode is dropped; an error of the SDK's own is waited out, not taken as final
    const refusing = start(collector([new BeaconError(400, 'unencodable', 'valueMicros', 0)]), { flushAt: 1 });
    await refusing.queue.push(event());
    await vi.advanceTimersByTimeAsync(0);
    expect([refusing.dropped.map((d) => d[1]), refusing.queue.size]).toEqual([['unencodable'], 0]);
    const buggy = start(collector([new TypeError('a bug')]), { flushAt: 1 });
    await buggy.queue.push(event());
    await vi.advanceTimersByTimeAsync(1_000);
    expect([buggy.dropped, buggy.queue.size]).toEqual([[], 0]);
  });

  it("takes an app's throwing callbacks as the app's problem: nothing is sent twice or lost", async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const c = collector([
      { status: 202, accepted: 0, rejected: [{ index: 0, reason: 'user_id: empty' }], attempts: 1 },
    ]);
    const boom = () => {
      throw new Error('app bug');
    };
    const { queue } = start(c, { flushAt: 1 }, memoryStorage(), { onSend: boom, onDrop: boom });
    await queue.push(event());
    await queue.push(event());
    await vi.advanceTimersByTimeAsync(60_000);
    expect([c.batches.length, queue.size]).toEqual([2, 0]);
    expect(error).toHaveBeenCalledTimes(3); // onSend twice, onDrop once
    error.mockRestore();
  });

  it('drops past maxQueued the oldest events in no request: one in flight waits for its answer', async () => {
    const answer = held();
    const c = collector([answer.reply]);
    const { queue, dropped, sent } = start(c, { flushAt: 1, maxQueued: 2 });
    const [a, b, cc] = [event(), event(), event()];
    await queue.push(a); // in flight
    await queue.push(b);
    await queue.push(cc);
    expect(dropped).toEqual([[b.eventId, 'queue_full']]);
    answer.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([a.eventId, cc.eventId]);
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
    const second = fileStorage(path);
    expect((await second.all()).map((e) => e.eventId)).toEqual([events[0]!.eventId, events[2]!.eventId]);
    const later = event();
    await second.add([later]); // on a line of its own, after the cut one
    expect((await fileStorage(path).all()).map((e) => e.eventId)).toEqual([
      events[0]!.eventId,
      events[2]!.eventId,
      later.eventId,
    ]);
  });

  it('goes on writing after a write failed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdk-queue-'));
    const path = join(dir, 'events.log');
    const s = fileStorage(path);
    await s.all();
    mkdirSync(path); // appending to it fails, as on a full disk
    await expect(s.add([event()])).rejects.toThrow(/EISDIR/);
    rmdirSync(path);
    writeFileSync(path, '+{"eventId":"half'); // what a write the disk cut short may leave
    const later = event();
    await s.add([later]);
    expect((await fileStorage(path).all()).map((e) => e.eventId)).toEqual([later.eventId]);
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
