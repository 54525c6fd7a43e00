// The sandbox's clock: pending work (state changes, callback retries), all stopped together on
// shutdown, and China time as WeChat writes it.

/** China time, as WeChat writes it: 2025-11-22T10:00:00+08:00. */
export const chinaTime = (ms: number) => `${new Date(ms + 8 * 3_600_000).toISOString().slice(0, 19)}+08:00`;

export function createTimers() {
  const timers = new Set<NodeJS.Timeout>();
  return {
    later(ms: number, fn: () => void) {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    },
    stop() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
export type Timers = ReturnType<typeof createTimers>;
