// The state partitions this process owns (README "State"): each opened from its own directory,
// caught up with its changelog before its first step after an assignment or a write whose fate is
// unknown, and worked by one step at a time: partition p of the beacons and of the confirmations share it.
// Processes on one host may share the state directory: each partition's directory is locked by the
// process that owns the partition, so one that moves between them keeps its disk.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PipelineError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { SourceKind } from './store/changelog.js';
import { openPartition, type Partition, type PartitionConfig, type ReadChangelog } from './store/partition.js';

interface Slot {
  part: Partition;
  ready?: Promise<void>;
  lock: Promise<void>;
}
/** A partition held by one step; `release(catchUp)` once its entry is applied or thrown away. */
export interface Held {
  part: Partition;
  release(catchUp?: boolean): void;
}

export function createPartitions(
  config: Omit<PartitionConfig, 'dir'> & { dir: string; lockWaitMs?: number },
  deps: {
    log: Logger;
    caughtUp?(partition: number, seconds: number, entries: number): void;
    readChangelog(partition: number, ...args: Parameters<ReadChangelog>): ReturnType<ReadChangelog>;
    /** The group's committed offsets of both sources of the partition (-1: none). */
    commits(partition: number): Promise<Record<SourceKind, number>>;
  },
) {
  const log = deps.log.child({ mod: 'partitions' });
  const slots = new Map<number, Slot>();
  const opening = new Map<number, Promise<Slot>>();
  /** Partitions moved away, closing: one that comes back reopens once its files are closed. */
  const closing = new Map<number, Promise<void>>();
  const dirOf = (p: number) => join(config.dir, String(p));

  /** The partition's slot, opened once its directory is this process's (its last owner may be letting go). */
  function slot(p: number): Promise<Slot> {
    let opened = opening.get(p);
    if (!opened) {
      opened = (async () => {
        await lockDir(dirOf(p), config.lockWaitMs ?? LOCK_WAIT_MS);
        try {
          const s: Slot = { part: openPartition({ ...config, dir: dirOf(p) }, { log }), lock: Promise.resolve() };
          slots.set(p, s);
          return s;
        } catch (err) {
          unlockDir(dirOf(p));
          throw err;
        }
      })();
      const mine = opened;
      opening.set(p, mine);
      mine.catch(() => {
        if (opening.get(p) === mine) opening.delete(p); // tried again by the next step
      });
    }
    return opened;
  }

  /** Called holding the partition's lock. */
  function catchUp(p: number, s: Slot): Promise<void> {
    const started = Date.now();
    const ready = (async () => {
      const commits = await deps.commits(p);
      const r = await s.part.restore((from, onRecord) => deps.readChangelog(p, from, onRecord), commits);
      log.info(
        { partition: p, from: r.from, entries: r.entries, seq: s.part.seq, ms: Date.now() - started },
        'state_caught_up',
      );
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
      for (const [p, opened] of opening) {
        if (owned.has(p)) continue;
        opening.delete(p); // moved away: its files stay, and catch up if it comes back
        const closed = opened
          .then(async (s) => {
            slots.delete(p);
            await s.lock.then(() => s.part.close());
            unlockDir(dirOf(p));
          })
          .catch((err: unknown) => log.warn({ err, partition: p }, 'state_close_failed'));
        closing.set(
          p,
          closed.finally(() => closing.delete(p)),
        );
      }
      for (const p of owned) {
        const s = slots.get(p);
        if (s) s.ready = undefined;
        this.acquire(p).then(
          (held) => held.release(),
          (err: unknown) => log.warn({ err, partition: p }, 'state_catch_up_failed'),
        );
      }
    },

    /** Waits for partition `p` alone and caught up. */
    async acquire(p: number): Promise<Held> {
      await closing.get(p);
      const s = await slot(p);
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
      for (const [p, s] of slots) {
        await s.lock.then(() => s.part.close());
        unlockDir(dirOf(p));
      }
      slots.clear();
      opening.clear();
    },
  };
}
export type Partitions = ReturnType<typeof createPartitions>;

/** How long a partition's directory is waited for while another process on the host lets it go. */
const LOCK_WAIT_MS = 60_000;
/** The partition directories this process holds (tests run several aggregators in one process). */
const locked = new Set<string>();

/**
 * One owner per partition directory: two would write the same files. The owner's pid is in its
 * LOCK file, created exclusively; a lock left by a dead process is taken over.
 */
async function lockDir(dir: string, waitMs: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'LOCK');
  for (const deadline = Date.now() + waitMs; ; await sleep(100)) {
    if (!locked.has(resolve(dir))) {
      try {
        writeFileSync(file, String(process.pid), { flag: 'wx' });
        locked.add(resolve(dir));
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (stale(file)) {
          rmSync(file, { force: true });
          continue;
        }
      }
    }
    if (Date.now() >= deadline)
      throw new PipelineError('state_dir_locked', `the state directory ${dir} is still held by another owner`, {
        retriable: true,
      });
  }
}

function unlockDir(dir: string): void {
  locked.delete(resolve(dir));
  rmSync(join(dir, 'LOCK'), { force: true });
}

/** A LOCK left by a dead process (or an earlier life of this one), or whose creator died before writing its pid. */
function stale(file: string): boolean {
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (!pid) return Date.now() - statSync(file).mtimeMs > 5_000;
    return pid === process.pid || !alive(pid);
  } catch {
    return false; // gone meanwhile: tried again
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
