// The attribution state in the real Redis: touch lists stay bounded and keep their newest touches,
// click flood sets stop at their limit, and claims keep the first value.
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
    const state = createRedisState({ prefix, claimTtlMs: 60_000 }, { redis });
    const key = 'l:v:app:user:campaign';
    const base = 1_763_800_000_001;
    const touches = Array.from({ length: 400 }, (_, k) => ({
      id: randomUUID(), type: EventType.IMPRESSION, time: base + k * 1_000, receivedAt: base + k * 1_000 + 7, creativeId: `cr "${k % 3}"\n`, userId: 'user', flag: '',
    }));
    for (const touch of touches) {
      const write = { op: 'touch' as const, key, ttlMs: 86_400_000, touch };
      await state.apply([write]);
      await state.apply([write]); // redelivered
    }
    const lines = (await redis.get(prefix + key))!.split('\n').slice(0, -1);
    expect(lines.length).toBeLessThanOrEqual(2 * TOUCHES_KEPT);
    const loaded = (await state.load({ touches: [key], clicks: [], flood: [], claims: [], flags: [] })).touches.get(key)!;
    const newest = touches.slice(-TOUCHES_KEPT);
    expect(newest.every((t) => loaded.some((l) => l.id === t.id))).toBe(true);
    const last = loaded.find((l) => l.id === touches.at(-1)!.id)!;
    expect({ ...touches.at(-1)! }).toEqual({ id: last.id, type: last.type, time: last.time, receivedAt: last.receivedAt, creativeId: last.creativeId, userId: last.userId, flag: last.flag });
    expect(await redis.pttl(prefix + key)).toBeGreaterThan(86_000_000);
  });

  it('drop touches older than the window when cut', async () => {
    const state = createRedisState({ prefix, claimTtlMs: 60_000 }, { redis });
    const key = 'l:c:app:user:campaign';
    const touch = (time: number) => ({ op: 'touch' as const, key, ttlMs: 60_000, touch: { id: randomUUID(), type: EventType.CLICK, time, receivedAt: time, creativeId: 'cr', userId: 'user', flag: '' } });
    await state.apply([touch(1_000)]);
    await state.apply(Array.from({ length: 2 * TOUCHES_KEPT }, (_, k) => touch(100_000 + k)));
    const loaded = (await state.load({ touches: [key], clicks: [], flood: [], claims: [], flags: [] })).touches.get(key)!;
    expect(loaded.map((t) => t.time).sort((a, b) => a - b)).toEqual(Array.from({ length: TOUCHES_KEPT }, (_, k) => 100_000 + TOUCHES_KEPT + k));
  });
});

describe('click flood sets', () => {
  it('keep a device-hour\'s first clicks up to the limit and no more, so a flooding device\'s set stays small', async () => {
    const state = createRedisState({ prefix, claimTtlMs: 60_000 }, { redis });
    const key = 'f:app:device:493000';
    const ids = Array.from({ length: 50 }, (_, i) => `click-${i}`);
    const write = (id: string) => ({ op: 'flood' as const, key, ttlMs: 7_200_000, id, limit: 20 });
    await state.apply(ids.slice(0, 15).map(write));
    await state.apply([...ids.slice(10, 15), ...ids.slice(15)].map(write)); // five redelivered, then 35 new
    expect((await redis.smembers(prefix + key)).sort()).toEqual(ids.slice(0, 20).sort());
    expect(await redis.pttl(prefix + key)).toBeGreaterThan(7_000_000);
  });
});

describe('person flags', () => {
  it('hold each invalid reason once, whatever is redelivered, and load as a set', async () => {
    const state = createRedisState({ prefix, claimTtlMs: 60_000 }, { redis });
    const key = 'u:app:user';
    const flag = (reason: string) => ({ op: 'flag' as const, key, ttlMs: 86_400_000, reason });
    await state.apply([flag('click_injection'), flag('click_injection')]);
    await state.apply([flag('click_flooding'), flag('click_injection')]); // a redelivery, then a new reason
    expect(await redis.get(prefix + key)).toBe('click_injection click_flooding ');
    expect((await state.load({ touches: [], clicks: [], flood: [], claims: [], flags: [key, 'u:app:other'] })).flags)
      .toEqual(new Map([[key, new Set(['click_injection', 'click_flooding'])], ['u:app:other', new Set()]]));
    expect(await redis.pttl(prefix + key)).toBeGreaterThan(86_000_000);
  });
});

describe('claims', () => {
  it('claim each event once, answer with what an earlier claim holds, and outlive a flushed script cache', async () => {
    const state = createRedisState({ prefix, claimTtlMs: 60_000 }, { redis });
    expect(await state.claim([{ id: 'a', value: 'p:1' }, { id: 'b', value: 'p:2' }])).toEqual(['', '']);
    await redis.script('FLUSH'); // as after a Redis restart: the next call loads the script again
    expect(await state.claim([{ id: 'a', value: 'p:3' }, { id: 'c', value: 'p:4' }])).toEqual(['p:1', '']);
    expect(await redis.get(`${prefix}c:a`)).toBe('p:1');
    expect(await redis.pttl(`${prefix}c:c`)).toBeGreaterThan(50_000);
  });
});
