// Group commit: the batches of all partitions being consumed are written together, so ClickHouse
// sees about one insert per `intervalMs` per table at steady state (thousands of rows each), while
// a lone batch after a quiet spell goes out after only `lingerMs`. When the consumer is behind (an
// item says more records are already waiting), groups go out back to back. A failed write is retried with
// backoff until it succeeds or the group is stopped: no batch is acknowledged before it is written.
// `write` is told the attempt number: a retry may follow a write that partly or silently succeeded.
// While `revoked` names a reason (the consumer's partitions are being taken away in a rebalance),
// nothing is written: the group is refused with that reason, and the partitions' next owner
// redelivers the batches. So an old owner never writes what its successor writes too.
// A write that fails with poison (classify) is never retried as it is: see `poisoned`.
import { classify, isolate } from '../common/consumer-faults.js';
import type { Logger } from '../common/log.js';

interface Waiting<T> {
  item: T;
  resolve(): void;
  reject(err: Error): void;
}

export function createGroupCommit<T extends { rows: number; backlog?: boolean }>(
  config: { intervalMs: number; lingerMs: number; maxRows: number; retryMs?: number; maxRetryMs?: number },
  deps: {
    write(items: T[], attempt: number): Promise<void>;
    /**
     * Given, a poisoned write is split (isolate) until the item at fault is alone; the others are
     * written, and that item comes here, to write what it can of itself and dead-letter the rest.
     */
    poisoned?(item: T, attempt: number): Promise<void>;
    /** Each failed attempt (retried), and each group written: the stall signal. */
    failed?(err: unknown): void;
    written?(): void;
    revoked?(): Error | undefined;
    log: Logger;
    now(): number;
  },
) {
  async function writeOrSetAside(items: T[], attempt: number): Promise<void> {
    try {
      await deps.write(items, attempt);
    } catch (err) {
      const fault = classify(err);
      if (!deps.poisoned || fault.kind !== 'poison') throw err;
      deps.log.warn({ err, code: fault.code, items: items.length }, 'group_write_poisoned');
      // The failed write may have landed in part (one table of two): every later write is a retry.
      const { poison } =
        items.length === 1
          ? { poison: [{ item: items[0]! }] }
          : await isolate(items, (part) => deps.write(part, attempt + 1));
      for (const p of poison) await deps.poisoned(p.item, attempt + 1);
    }
  }

  let waiting: Waiting<T>[] = [];
  let rows = 0;
  let timer: NodeJS.Timeout | undefined;
  let dueAt = Infinity;
  let writing = false;
  let lastWriteAt = -Infinity;
  let stopped = false;

  function schedule(): void {
    if (writing || waiting.length === 0) return;
    const now = deps.now();
    const behind = rows >= config.maxRows || waiting.some((w) => w.item.backlog);
    const at = behind ? now : Math.max(now + config.lingerMs, lastWriteAt + config.intervalMs);
    if (at >= dueAt) return;
    clearTimeout(timer);
    dueAt = at;
    timer = setTimeout(() => void write(), at - now);
  }

  async function write(): Promise<void> {
    const group = waiting;
    waiting = [];
    rows = 0;
    dueAt = Infinity;
    writing = true;
    lastWriteAt = deps.now(); // the interval runs from one write's start to the next one's
    let delay = config.retryMs ?? 500;
    for (let attempt = 0; ; attempt++) {
      const revoked = deps.revoked?.();
      if (revoked) {
        for (const w of group) w.reject(revoked);
        break;
      }
      try {
        await writeOrSetAside(
          group.map((w) => w.item),
          attempt,
        );
        deps.written?.();
        for (const w of group) w.resolve();
        break;
      } catch (err) {
        deps.failed?.(err);
        if (stopped) {
          for (const w of group) w.reject(new Error('stopped before the batch was written', { cause: err }));
          break;
        }
        deps.log.warn({ err, retry_ms: delay }, 'group_write_failed');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, config.maxRetryMs ?? 10_000);
      }
    }
    writing = false;
    schedule();
  }

  return {
    /** Resolves once `item` is written (with whatever else was waiting). */
    submit(item: T): Promise<void> {
      if (stopped) return Promise.reject(new Error('group commit stopped'));
      return new Promise<void>((resolve, reject) => {
        waiting.push({ item, resolve, reject });
        rows += item.rows;
        schedule();
      });
    },
    get pending() {
      return waiting.length;
    },
    /** Stops retrying; batches not yet written are refused (Kafka redelivers them). */
    stop(): void {
      stopped = true;
      clearTimeout(timer);
      for (const w of waiting) w.reject(new Error('group commit stopped'));
      waiting = [];
    },
  };
}
