// The provider limit counts calls: a burst of one second's worth goes at once, the rest at the rate.
import { describe, expect, it } from 'vitest';
import { createRateLimit } from './rate-limit.js';

describe('provider rate limit', () => {
  it.each([
    [10, 10, 0],
    [10, 25, 1_500],
    [100, 1_000, 9_000],
  ])('at %i calls/s, %i calls take %i ms of waiting', async (perSecond, calls, waitedMs) => {
    let now = 0;
    const limit = createRateLimit({ perSecond }, { now: () => now, sleep: async (ms) => void (now += ms) });
    await Promise.all(Array.from({ length: calls }, () => limit.take()));
    expect(now).toBeGreaterThanOrEqual(waitedMs);
    expect(now).toBeLessThanOrEqual(waitedMs + 20);
  });
});
