// Merges runs into one, so a lookup probes fewer filters. Keys are uniform, so the key space is cut into
// ranges of about CHUNK_KEYS keys: each range is read from every input (sequentially), sorted and
// appended. Bounded RAM (a buffer per input and one range) and short turns between awaits.
import { closeSync, openSync, rmSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { sortKeys } from './claims-table.js';
import { bytesOf, readAll, type Run, type RunMeta } from './claims-run.js';
import { createRunWriter } from './claims-run-writer.js';

const CHUNK_KEYS = 1 << 16;
const CURSOR_KEYS = 1 << 14; // 256 KiB read at a time from each input
const TURN_MS = 8;

function createCursor(run: Run) {
  const fd = openSync(run.path, 'r');
  const buf = new Uint32Array(CURSOR_KEYS * 4);
  let next = 0;
  let pos = 0;
  let end = 0;
  return {
    /** Copies into `out` the run's next keys whose first word is below `bound`; returns how many. */
    takeBelow(bound: number, out: Uint32Array[]): number {
      let taken = 0;
      for (;;) {
        if (pos === end) {
          if (next >= run.count) return taken;
          const n = Math.min(CURSOR_KEYS, run.count - next);
          readAll(fd, bytesOf(buf, n * 4), run.keysOffset + next * 16);
          next += n;
          pos = 0;
          end = n;
        }
        let lo = pos;
        let hi = end;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (buf[mid * 4]! < bound) lo = mid + 1;
          else hi = mid;
        }
        if (lo > pos) out.push(buf.slice(pos * 4, lo * 4));
        taken += lo - pos;
        pos = lo;
        if (pos < end) return taken;
      }
    },
    close: () => closeSync(fd),
  };
}

/** The merged run, written and renamed into place; null when `stopped()` said so between turns. */
export async function mergeRuns(
  dir: string,
  inputs: Run[],
  meta: RunMeta,
  capBytes: number,
  stopped: () => boolean,
): Promise<Run | null> {
  const total = inputs.reduce((n, r) => n + r.count, 0);
  const bits = Math.min(24, Math.max(0, Math.ceil(Math.log2(total / CHUNK_KEYS))));
  const cursors = inputs.map(createCursor);
  const writer = createRunWriter(dir, meta, total, capBytes);
  try {
    let turn = Date.now();
    for (let j = 0; j < 2 ** bits; j++) {
      const bound = (j + 1) * 2 ** (32 - bits);
      const parts: Uint32Array[] = [];
      let n = 0;
      for (const c of cursors) n += c.takeBelow(bound, parts);
      const chunk = new Uint32Array(n * 4);
      let at = 0;
      for (const p of parts) {
        chunk.set(p, at);
        at += p.length;
      }
      writer.append(sortKeys(chunk, n, bits), n);
      if (Date.now() - turn >= TURN_MS) {
        await nextTurn();
        if (stopped()) {
          writer.abort();
          return null;
        }
        turn = Date.now();
      }
    }
    const run = await writer.finishAsync();
    if (!stopped()) return run;
    rmSync(run.path, { force: true }); // the store closed meanwhile: a reopen sees its inputs
    return null;
  } catch (err) {
    writer.abort();
    throw err;
  } finally {
    for (const c of cursors) c.close();
  }
}
