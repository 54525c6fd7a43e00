// Deletes the expired entries of the key-value store (kv.ts) by scanning its keys in order, a chunk at a
// time, resuming where the last sweep stopped. A scan reads keys and expiries (entry versions), and skips
// the values: lmdb-js gives versions only with values, so it reads through a view that decodes none.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Database, RangeOptions, RootDatabase } from 'lmdb';

/** Keys read between two turns of the event loop: about a millisecond of scanning. */
export const SWEEP_CHUNK = 1_000;

/** The store's DB `name` once more, its values decoded as null: a scan copies none of them (half the cost). */
export function openExpiryView(root: RootDatabase, name: string): Database<null, string> {
  const encoder = {
    decode: () => null,
    encode: () => {
      throw new Error('the expiry view is read-only');
    },
  };
  const options = { name, useVersions: true, encoder }; // `encoder` is lmdb-js's, missing from its types
  return root.openDB<null, string>(options);
}

/**
 * Scans from `state.from` (the last key a sweep reached) until `maxKeys` entries are deleted or the keys
 * end (the next sweep starts over). An entry is deleted only if its expiry is still the one scanned: a
 * write that renewed it meanwhile wins.
 */
export async function sweepExpired(
  db: Database<Buffer, string>,
  view: Database<null, string>,
  state: { from: string | undefined },
  now: number,
  maxKeys: number,
  stopped: () => boolean,
): Promise<{ deleted: number; scanned: number; ms: number }> {
  const t0 = Date.now();
  let deleted = 0;
  let scanned = 0;
  while (deleted < maxKeys && !stopped()) {
    const range: RangeOptions = {
      start: state.from,
      exclusiveStart: state.from !== undefined,
      limit: SWEEP_CHUNK,
      versions: true,
    };
    const expired: [string, number][] = [];
    let seen = 0;
    let last: string | undefined;
    for (const { key, version } of view.getRange(range)) {
      seen++;
      last = key;
      if (version !== undefined && version <= now) expired.push([key, version]);
      if (deleted + expired.length >= maxKeys) break;
    }
    scanned += seen;
    const ended = seen < SWEEP_CHUNK && deleted + expired.length < maxKeys;
    state.from = ended ? undefined : last;
    if (expired.length > 0) {
      const removed: Promise<boolean>[] = [];
      await db.batch(() => {
        for (const [key, version] of expired) removed.push(db.remove(key, version));
      });
      for (const ok of await Promise.all(removed)) if (ok) deleted++;
    }
    if (ended) break;
    await nextTurn();
  }
  return { deleted, scanned, ms: Date.now() - t0 };
}
