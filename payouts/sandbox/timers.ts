// The sandbox's pending work (state changes, callback retries), all stopped together on shutdown.
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
