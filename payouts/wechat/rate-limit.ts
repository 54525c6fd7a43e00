// WeChat Pay's limits count calls, not jobs (transfer bills: 100 QPS per merchant; batch queries: 50):
// a token bucket every call waits on. It holds per process, so N payouts processes share the
// merchant's limit by each taking 1/N of it (README "Config", PAYOUTS_PROVIDER_QPS).
import { setTimeout as sleep } from 'node:timers/promises';

export function createRateLimit(
  config: { perSecond: number },
  deps: { now(): number; sleep(ms: number): Promise<unknown> } = { now: () => performance.now(), sleep },
) {
  let tokens = config.perSecond;
  let at = deps.now();
  let queue: Promise<void> = Promise.resolve();
  /** Refills by the time gone, up to one second's worth (a burst never exceeds the limit). */
  const refill = () => {
    const now = deps.now();
    tokens = Math.min(config.perSecond, tokens + ((now - at) * config.perSecond) / 1000);
    at = now;
  };
  return {
    /** Resolves when this call may go; callers go in the order they asked. */
    take(): Promise<void> {
      const turn = queue.then(async () => {
        for (refill(); tokens < 1; refill()) await deps.sleep(Math.ceil(((1 - tokens) * 1000) / config.perSecond));
        tokens -= 1;
      });
      queue = turn;
      return turn;
    },
  };
}
export type RateLimit = ReturnType<typeof createRateLimit>;
