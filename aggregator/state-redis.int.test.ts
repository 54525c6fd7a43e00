// The shared attribution state in the real Redis: a device's touch lists stay bounded and keep their
// newest touches, click flood sets stop at their limit, and writes outlive a flushed script cache.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { EventType } from '../schemas/beacon-json.js';
import { deleteRedisPrefix, env, uniqueName } from '../test/support.js';
import { createRedisState } from './state-redis.js';
import { TOUCHES_KEPT } from './state.js';

const redis = new Redis(env.REDIS_URL);
const prefix = `${uniqueName('state')}:`;
afterAll(async () => {
  await deleteRedisPrefix(prefix);
  await redis.quit();
});

describe('touch lists', () => {
  it('keep their newest distinct touches, bounded, through redelivered writes, and read back whole', async () => {
    const state = createRedisState({ prefix }, { redis });
    const key = 'l:d:app:device:campaign';
    const base = 1_763_800_000_001;
    const touches = Array.from({ length: 400 }, (_, k) => ({
      id: randomUUID(),
      type: EventType.IMPRESSION,
      time: base + k * 1_000,
      receivedAt: base + k * 1_000 + 7,
      creativeId: `cr "${k % 3}"\n`,
      userId: 'user',
      flag: '',
    }));
    for (const touch of touches) {
      const write = { op: 'touch' as const, key, ttlMs: 86_400_000, touch };
      await state.apply([write]);
      await state.apply([write]); // redelivered
    }
    const lines = (await redis.get(prefix + key))!.split('\n').slice(0, -1);
    expect(lines.length).toBeLessThanOrEqual(2 * TOUCHES_KEPT);
    const loaded = (await state.load({ touches: [key], clicks: [], flood: [], flags: [] })).touches.get(key)!;
    const newest = touches.slice(-TOUCHES_KEPT);
    expect(newest.every((t) => loaded.some((l) => l.id === t.id))).toBe(true);
    const last = loaded.find((l) => l.id === touches.at(-1)!.id)!;
    expect({ ...touches.at(-1)! }).toEqual({
      id: last.id,
      type: last.type,
      time: last.time,
      receivedAt: last.receivedAt,
      creativeId: last.creativeId,
      userId: last.userId,
      flag: last.flag,
    });
    expect(await redis.pttl(prefix + key)).toBeGreaterThan(86_000_000);
  });

  it('drop touches older than the window when cut', async () => {
    const state = createRedisState({ prefix }, { redis });
    const key = 'l:d:app:device-2:campaign';
    const touch = (time: number) => ({
      op: 'touch' as const,
      key,
      ttlMs: 60_000,
      touch: {
        id: randomUUID(),
        type: EventType.CLICK,
        time,
        receivedAt: time,
        creativeId: 'cr',
        userId: 'user',
        flag: '',
      },
    });
    await state.apply([touch(1_000)]);
    await state.apply(Array.from({ length: 2 * TOUCHES_KEPT }, (_, k) => touch(100_000 + k)));
    const loaded = (await state.load({ touches: [key], clicks: [], flood: [], flags: [] })).touches.get(key)!;
    expect(loaded.map((t) => t.time).sort((a, b) => a - b)).toEqual(
      Array.from({ length: TOUCHES_KEPT }, (_, k) => 100_000 + TOUCHES_KEPT + k),
    );
  });
});

describe('click flood sets', () => {
  it("keep a device-hour's first clicks up to the limit and no more, so a flooding device's set stays small", async () => {
    const state = createRedisState({ prefix }, { redis });
    const key = 'f:app:device:493000';
    const ids = Array.from({ length: 50 }, (_, i) => `click-${i}`);
    const write = (id: string) => ({ op: 'flood' as const, key, ttlMs: 7_200_000, id, limit: 20 });
    await state.apply(ids.slice(0, 15).map(write));
    await state.apply([...ids.slice(10, 15), ...ids.slice(15)].map(write)); // five redelivered, then 35 new
    expect((await redis.smembers(prefix + key)).sort()).toEqual(ids.slice(0, 20).sort());
    expect(await redis.pttl(prefix + key)).toBeGreaterThan(7_000_000);
  });
});

describe('writes', () => {
  it('outlive a flushed script cache', async () => {
    const state = createRedisState({ prefix }, { redis });
    const key = 'f:app:device:493001';
    await state.apply([{ op: 'flood', key, ttlMs: 7_200_000, id: 'a', limit: 20 }]);
    await redis.script('FLUSH'); // as after a Redis restart: the next call loads the script again
    await state.apply([{ op: 'flood', key, ttlMs: 7_200_000, id: 'b', limit: 20 }]);
    expect((await redis.smembers(prefix + key)).sort()).toEqual(['a', 'b']);
  });
});
