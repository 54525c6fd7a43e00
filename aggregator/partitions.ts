// The state partitions this process owns (README "State"): each opened from its own directory,
// caught up with its changelog before its first step after an assignment or a write whose fate is
// unknown, and worked by one step at a time: partition p of the beacons and of the confirmations share it.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PipelineError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { SourceKind } from './store/changelog.js';
import { openPartition, type Partition, type PartitionConfig, type ReadChangelog } from './store/partition.js';

interface Slot { part: Partition; ready?: Promise<void>; lock: Promise<void> }
/** A partition held by one step; `release(catchUp)` once its entry is applied or thrown away. */
export interface Held { part: Partition; release(catchUp?: boolean): void }

export function createPartitions(
  config: Omit<PartitionConfig, 'dir'> & { dir: string },
  deps: {
    log: Logger;
    caughtUp?(partition: number, seconds: number, entries: number): void;
    readChangelog(partition: number, ...args: Parameters<ReadChangelog>): ReturnType<ReadChangelog>;
    /** The group's committed offsets of both sources of the partition (-1: none). */
    commits(partition: number): Promise<Record<SourceKind, number>>;
  },
) {
  const log = deps.log.child({ mod: 'partitions' });
  lockDir(config.dir);
  const slots = new Map<number, Slot>();
  /** Partitions moved away, closing: one that comes back reopens once its files are closed. */
  const closing = new Map<number, Promise<void>>();

  function slot(p: number): Slot {
    let s = slots.get(p);
    if (!s) slots.set(p, (s = { part: openPartition({ ...config, dir: join(config.dir, String(p)) }, { log }), lock: Promise.resolve() }));
    return s;
  }

  /** Called holding the partition's lock. */
  function catchUp(p: number, s: Slot): Promise<void> {
    const started = Date.now();
    const ready = (async () => {
      const commits = await deps.commits(p);
      const r = await s.part.restore((from, onRecord) => deps.readChangelog(p, from, onRecord), commits);
      log.info({ partition: p, from: r.from, entries: r.entries, seq: s.part.seq, ms: Date.now() - started }, 'state_caught_up');
      deps.caughtUp?.(p, (Date.now() - started) / 1000, r.entries);
    })();
    s.ready = ready;
    ready.catch(() => {
      if (s.ready === ready) s.ready = undefined; // tried again by the next step
    });
    return ready;
  }

  return {
    /** A new assignment: each partition catches up with its changelog now, before its next step. */
    assigned(partitions: number[]): void {
      const owned = new Set(partitions);
      for (const [p, s] of slots) {
        if (owned.has(p)) continue;
        slots.delete(p); // moved away: its files stay, and catch up if it comes back
        const closed = s.lock.then(() => s.part.close()).catch((err: unknown) => log.warn({ err, partition: p }, 'state_close_failed'));
        closing.set(p, closed.finally(() => closing.delete(p)));
      }
      for (const p of owned) {
        slot(p).ready = undefined;
        this.acquire(p).then((held) => held.release(), (err: unknown) => log.warn({ err, partition: p }, 'state_catch_up_failed'));
      }
    },

    /** Waits for partition `p` alone and caught up. */
    async acquire(p: number): Promise<Held> {
      await closing.get(p);
      const s = slot(p);
      let unlock!: () => void;
      const previous = s.lock;
      s.lock = new Promise((resolve) => (unlock = resolve));
      await previous;
      let released = false;
      const release = (again = false) => {
        if (released) return;
        released = true;
        if (again) s.ready = undefined;
        unlock();
      };
      try {
        await (s.ready ?? catchUp(p, s));
      } catch (err) {
        release();
        throw err;
      }
      return { part: s.part, release };
    },

    /** Seals and drops expired state of every open partition, one at a time. */
    async maintain(now: number): Promise<void> {
      for (const p of slots.keys()) {
        const held = await this.acquire(p);
        try {
          await held.part.maintain(now);
        } finally {
          held.release();
        }
      }
    },

    stats: () => [...slots].map(([partition, s]) => ({ partition, ...s.part.stats() })),

    async close(): Promise<void> {
      await Promise.all(closing.values());
      for (const s of slots.values()) await s.lock.then(() => s.part.close());
      slots.clear();
      locked.delete(resolve(config.dir));
      rmSync(join(config.dir, 'LOCK'), { force: true });
    },
  };
}
export type Partitions = ReturnType<typeof createPartitions>;

/** The state directories this process uses (tests run several aggregators in one process). */
const locked = new Set<string>();

/** One aggregator per state directory: two would write the same files. A lock left by a dead process is taken over. */
function lockDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (locked.has(resolve(dir))) throw new PipelineError('state_dir_locked', `the state directory ${dir} is in use in this process`, { retriable: false });
  const file = join(dir, 'LOCK');
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (pid && pid !== process.pid && alive(pid)) {
      throw new PipelineError('state_dir_locked', `the state directory ${dir} is used by process ${pid}`, { retriable: false });
    }
  } catch (err) {
    if (err instanceof PipelineError) throw err;
  }
  writeFileSync(file, String(process.pid));
  locked.add(resolve(dir));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
