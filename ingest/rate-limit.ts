// Token buckets per key (an app, a device): `ratePerS` tokens a second up to `burst`. A request
// that finds too few tokens is refused with the wait, in seconds, until it would fit (Retry-After).
// Buckets that have refilled are dropped by sweep(), so idle devices cost no memory.
export interface Bucket {
  tokens: number;
  at: number;
}

export function createRateLimiter(config: { ratePerS: number; burst: number }) {
  const buckets = new Map<string, Bucket>();
  const refill = (b: Bucket, now: number) => {
    b.tokens = Math.min(config.burst, b.tokens + ((now - b.at) / 1000) * config.ratePerS);
    b.at = now;
  };
  return {
    /** 0 when the cost was taken, else the seconds to wait (and nothing is taken). */
    take(key: string, cost: number, now: number): number {
      if (config.ratePerS <= 0) return 0; // disabled
      let b = buckets.get(key);
      if (!b) buckets.set(key, (b = { tokens: config.burst, at: now }));
      else refill(b, now);
      if (b.tokens >= cost) {
        b.tokens -= cost;
        return 0;
      }
      return Math.max(1, Math.ceil((Math.min(cost, config.burst) - b.tokens) / config.ratePerS));
    },
    sweep(now: number): void {
      for (const [key, b] of buckets) {
        refill(b, now);
        if (b.tokens >= config.burst) buckets.delete(key);
      }
    },
    get size() {
      return buckets.size;
    },
  };
}
