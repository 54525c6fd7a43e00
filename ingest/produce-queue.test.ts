import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createProduceQueue, type OutRecord } from './produce-queue.js';

const rec = (key: string, bytes = 10, events = 1): OutRecord => ({ key, value: new Uint8Array(bytes), events });

function fakeBroker() {
  const calls: string[][] = [];
  let fail: Error | undefined;
  let healthy = true;
  const held: (() => void)[] = [];
  let hold = false;
  return {
    calls,
    failNext: (err: Error) => (fail = err),
    setHealthy: (h: boolean) => (healthy = h),
    holdSends: () => (hold = true),
    release: () => {
      hold = false;
      held.splice(0).forEach((r) => r());
    },
    deps: {
      healthy: () => healthy,
      async send(records: OutRecord[]) {
        calls.push(records.map((r) => r.key));
        if (hold) await new Promise<void>((r) => held.push(r));
        if (fail) {
          const err = fail;
          fail = undefined;
          throw err;
        }
      },
    },
  };
}

const config = { maxEvents: 100, maxBytes: 1_000, lingerMs: 5, maxBatchBytes: 100, concurrency: 1 };

describe('createProduceQueue', () => {
  it('coalesces concurrent requests into one send and acks each after it', async () => {
    const broker = fakeBroker();
    const q = createProduceQueue(config, broker.deps);
    const a = q.enqueue([rec('u1')]);
    const b = q.enqueue([rec('u2'), rec('u3')]);
    if (!a.ok || !b.ok) throw new Error('refused');
    await Promise.all([a.acked, b.acked]);
    expect(broker.calls).toEqual([['u1', 'u2', 'u3']]);
    expect(q.depth).toEqual({ events: 0, bytes: 0 });
  });

  it('rejects every request of a failed send, and only those', async () => {
    const broker = fakeBroker();
    const q = createProduceQueue(config, broker.deps);
    broker.failNext(new Error('broker gone'));
    const a = q.enqueue([rec('u1')]);
    if (!a.ok) throw new Error('refused');
    await expect(a.acked).rejects.toThrow('broker gone');
    const b = q.enqueue([rec('u2')]);
    if (!b.ok) throw new Error('refused');
    await expect(b.acked).resolves.toBeUndefined();
  });

  it('refuses when the queue is full by events or bytes, counting what is in flight', async () => {
    const broker = fakeBroker();
    broker.holdSends();
    const q = createProduceQueue({ ...config, maxEvents: 3, maxBytes: 50 }, broker.deps);
    const first = q.enqueue([rec('u1', 10, 2)]);
    await sleep(10); // now in flight
    expect(q.enqueue([rec('u2', 10, 2)])).toEqual({ ok: false, reason: 'queue_full' });
    expect(q.enqueue([rec('u3', 41, 1)])).toEqual({ ok: false, reason: 'queue_full' });
    expect(q.enqueue([rec('u4', 10, 1)]).ok).toBe(true);
    broker.release();
    if (first.ok) await first.acked;
  });

  it('refuses everything while the broker is down', () => {
    const broker = fakeBroker();
    broker.setHealthy(false);
    expect(createProduceQueue(config, broker.deps).enqueue([rec('u1')])).toEqual({
      ok: false,
      reason: 'broker_unavailable',
    });
  });

  it('keeps at most `concurrency` sends in flight and splits by maxBatchBytes', async () => {
    const broker = fakeBroker();
    broker.holdSends();
    const q = createProduceQueue(config, broker.deps);
    const acks = ['a', 'b', 'c', 'd'].map((k) => q.enqueue([rec(k, 60)]));
    await sleep(10);
    expect(broker.calls).toEqual([['a']]);
    broker.release();
    await q.drain();
    expect(broker.calls).toEqual([['a'], ['b'], ['c'], ['d']]);
    for (const a of acks) if (a.ok) await a.acked;
  });

  it('sends in parallel up to `concurrency`', async () => {
    const broker = fakeBroker();
    broker.holdSends();
    const q = createProduceQueue({ ...config, concurrency: 2 }, broker.deps);
    for (const k of ['a', 'b', 'c']) q.enqueue([rec(k, 60)]);
    await sleep(10);
    expect(broker.calls).toEqual([['a'], ['b']]);
    broker.release();
    await q.drain();
    expect(broker.calls.flat()).toEqual(['a', 'b', 'c']);
  });
});
