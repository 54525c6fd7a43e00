import { describe, expect, it } from 'vitest';
import { createRateLimiter } from './rate-limit.js';

describe('createRateLimiter', () => {
  it('allows the burst, then refuses with the wait until it would fit', () => {
    const rl = createRateLimiter({ ratePerS: 2, burst: 4 });
    expect([1, 2, 3, 4].map(() => rl.take('d', 1, 0))).toEqual([0, 0, 0, 0]);
    expect(rl.take('d', 1, 0)).toBe(1);
    expect(rl.take('d', 4, 0)).toBe(2);
    expect(rl.take('d', 1, 500)).toBe(0); // half a second later one token is back
    expect(rl.take('other', 1, 500)).toBe(0); // buckets are per key
  });

  it('takes nothing from a refused request', () => {
    const rl = createRateLimiter({ ratePerS: 1, burst: 2 });
    expect(rl.take('d', 3, 0)).toBe(1);
    expect(rl.take('d', 2, 0)).toBe(0);
  });

  it('forgets buckets that refilled', () => {
    const rl = createRateLimiter({ ratePerS: 10, burst: 10 });
    rl.take('a', 5, 0);
    rl.take('b', 5, 950); // 5.5 tokens at the sweep: still in use
    rl.sweep(1_000);
    expect(rl.size).toBe(1);
  });

  it('is off at rate 0', () => {
    expect(createRateLimiter({ ratePerS: 0, burst: 0 }).take('d', 1_000, 0)).toBe(0);
  });
});
