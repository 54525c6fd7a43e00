// The sandbox's clock: pending work (state changes, callback retries), all stopped together on
// shutdown; the business clock; and China time as WeChat writes it.

/** China time, as WeChat writes it: 2025-11-22T10:00:00+08:00. */
export const chinaTime = (ms: number) => `${new Date(ms + 8 * 3_600_000).toISOString().slice(0, 19)}+08:00`;

export function createTimers() {
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  return {
    /** Runs `fn` after `ms`, unless stopped first; nothing is scheduled once stopped. */
    later(ms: number, fn: () => void) {
      if (stopped) return;
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    },
    /** Stopped, as a process that died: work finishing after it changes nothing. */
    get stopped() {
      return stopped;
    },
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
export type Timers = ReturnType<typeof createTimers>;

/**
 * The business clock: real time plus an offset (POST /sandbox/clock), which dates money movements
 * and bill states and decides which bills are ready, so a test can put a debit on day D and its
 * refund on D+1. Signatures and their ±300 s window keep real time.
 */
export function createClock(now: () => number) {
  let offsetMs = 0;
  return {
    now: () => now() + offsetMs,
    get offsetMs() {
      return offsetMs;
    },
    set(ms: number) {
      offsetMs = ms;
    },
  };
}
export type Clock = ReturnType<typeof createClock>;
