// Writes a run file (layout in claims-run.ts) whole under a temporary name, syncs it and renames it into
// place, so a run on disk is always complete: a crash leaves at most a .tmp file, removed on reopen.
import { closeSync, fsync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { FILTER_BLOCK_WORDS, filterAdd, filterLog2For } from './claims-filter.js';
import { bucketBitsFor, bytesOf, FIXED, MAGIC, runFileName, VERSION, type Run, type RunMeta } from './claims-run.js';
import { compareKeys } from './claims-table.js';

const fsyncAsync = promisify(fsync);

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}
/** Writes a run from sorted chunks (`append`), dropping repeated keys; `finish` makes it visible. */
export function createRunWriter(dir: string, meta: RunMeta, maxCount: number, capBytes: number) {
  const path = join(dir, runFileName(meta.id));
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  const headerLen = FIXED + 8 * meta.inputs.length + 4;
  const bucketBits = bucketBitsFor(maxCount, capBytes);
  const shift = 32 - bucketBits;
  const filterLog2 = filterLog2For(maxCount, capBytes);
  const mask = (1 << filterLog2) - 1;
  const table = new Uint32Array((1 << bucketBits) + 1);
  const filter = new Uint32Array((1 << filterLog2) * FILTER_BLOCK_WORDS);
  const last = new Uint32Array(4);
  let count = 0;

  return {
    /** Appends the first `n` keys of `sorted` (greater than all appended so far, or equal to the last). */
    append(sorted: Uint32Array, n: number): void {
      let kept = 0;
      for (let i = 0; i < n; i++) {
        if ((count > 0 || kept > 0) && compareKeys(sorted, i, kept > 0 ? sorted : last, kept > 0 ? kept - 1 : 0) === 0)
          continue;
        if (kept !== i) sorted.copyWithin(kept * 4, i * 4, i * 4 + 4);
        table[(sorted[kept * 4]! >>> shift) + 1]!++;
        filterAdd(filter, mask, sorted[kept * 4 + 1]!, sorted[kept * 4 + 2]!);
        kept++;
      }
      if (kept === 0) return;
      writeAll(fd, bytesOf(sorted, kept * 4), headerLen + count * 16);
      last.set(sorted.subarray((kept - 1) * 4, kept * 4));
      count += kept;
    },
    /** Completes the file, syncs it and renames it into place. */
    finish(): Run {
      const run = complete();
      fsyncSync(fd);
      return publish(run);
    },
    /** The same, without blocking the event loop on the sync of a large file. */
    async finishAsync(): Promise<Run> {
      const run = complete();
      await fsyncAsync(fd);
      return publish(run);
    },
    abort(): void {
      try {
        closeSync(fd);
      } catch {
        // already closed by finish
      }
      rmSync(tmp, { force: true });
    },
  };

  function complete(): Run {
    for (let i = 1; i < table.length; i++) table[i]! += table[i - 1]!;
    const tableOffset = headerLen + count * 16;
    const filterOffset = tableOffset + table.byteLength;
    writeAll(fd, bytesOf(table), tableOffset);
    writeAll(fd, bytesOf(filter), filterOffset);
    const sectionsCrc = crc32(bytesOf(filter), crc32(bytesOf(table)));
    const header = Buffer.alloc(headerLen);
    [MAGIC, VERSION, headerLen, bucketBits, filterLog2, meta.genRuns, meta.genIndex, meta.inputs.length].forEach(
      (v, i) => header.writeUInt32LE(v, i * 4),
    );
    [count, meta.minAt, meta.maxAt, meta.seqThrough, meta.gen, meta.id].forEach((v, i) =>
      header.writeDoubleLE(v, 32 + i * 8),
    );
    header.writeUInt32LE(sectionsCrc, 80);
    meta.inputs.forEach((v, i) => header.writeDoubleLE(v, FIXED + i * 8));
    header.writeUInt32LE(crc32(header.subarray(0, headerLen - 4)), headerLen - 4);
    writeAll(fd, header, 0);
    return {
      ...meta,
      path,
      count,
      bucketBits,
      filterLog2,
      size: filterOffset + filter.byteLength,
      keysOffset: headerLen,
      tableOffset,
      filterOffset,
      sectionsCrc,
      table,
      tableBits: bucketBits,
      filter,
      filterRamLog2: filterLog2,
      fd: -1,
    };
  }
  function publish(run: Run): Run {
    closeSync(fd);
    renameSync(tmp, path);
    return run;
  }
}
export type RunWriter = ReturnType<typeof createRunWriter>;
