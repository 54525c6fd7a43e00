// The attribution state in the real Redis: touch sets stay bounded however regular the event times.
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
