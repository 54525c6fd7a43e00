// The attribution state in the real Redis: touch sets stay bounded however regular the event times,
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

describe('touch sets', () => {
  it('keep their newest touches, bounded, when every event time is a whole second plus the same offset', async () => {
    const state = createRedisState({ prefix, claimTtlMs: 60_000 }, { redis });
    const key = 't:v:app:user:campaign';
    const base = 1_763_800_000_001; // whole seconds + 1 ms: a time-based choice of when to trim never trims
    const ids: string[] = [];
    for (let k = 0; k < 400; k++) {
      const id = `${randomUUID().slice(0, 35)}${(k % 16).toString(16)}`; // the last hex digit, as random ids have them
      ids.push(id);
      await state.apply([{ op: 'touch', key, ttlMs: 86_400_000, touch: { id, type: EventType.IMPRESSION, time: base + k * 1_000, creativeId: 'cr', userId: 'user', flag: '' } }]);
    }
    const members = await redis.zrange(prefix + key, 0, -1);
    expect(members.length).toBeLessThan(TOUCHES_KEPT + 16);
    expect(members.at(-1)).toContain(ids.at(-1));
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
