// A run: an immutable file of sorted claim keys with its bucket table and filter (claims-run-writer.ts
// writes it). RAM holds its table and filter, coarsened and folded to the budget; a lookup reads one
// bucket of keys with one pread.
//
// File layout (little-endian):
//   0  u32 magic 'CLMR'   4 u32 version   8 u32 headerLen   12 u32 bucketBits   16 u32 filterLog2
//   20 u32 genRuns        24 u32 genIndex 28 u32 inputs      32 f64 count        40 f64 minAt
//   48 f64 maxAt          56 f64 seqThrough                  64 f64 gen (-1: a merge)  72 f64 id
//   80 u32 crc32 of the table and filter  84 u32 0          88 f64 × inputs (ids of the runs merged)
//   headerLen-4 u32 crc32 of the header before it
//   keys: count × 16 bytes, sorted by their four u32 words
//   table: (2^bucketBits + 1) × u32, the index of the first key whose top bucketBits bits are >= i
//   filter: 2^filterLog2 blocks of 4 × u32 (claims-filter.ts)
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { compareKeys } from './claims-table.js';
import { FILTER_BLOCK_BYTES, FILTER_BLOCK_WORDS, foldInto } from './claims-filter.js';

export const MAGIC = 0x524d4c43;
export const VERSION = 1;
export const FIXED = 88;
const MIN_BUCKET_BITS = 4;
const LOAD_CHUNK_BLOCKS = 1 << 15; // 1 MiB of filter per read

export interface RunMeta {
  id: number;
  /** The log generation whose claims this run holds (-1 for a merge of runs). */
  gen: number;
  /** How many runs that generation was written as, and which of them this is. */
  genRuns: number;
  genIndex: number;
  inputs: number[];
  minAt: number;
  maxAt: number;
  seqThrough: number;
}

export interface Run extends RunMeta {
  path: string;
  count: number;
  bucketBits: number;
  filterLog2: number;
  size: number;
  keysOffset: number;
  tableOffset: number;
  filterOffset: number;
  sectionsCrc: number;
  /** In RAM: the bucket table at `tableBits`, the filter folded to 2^filterRamLog2 blocks. */
  table: Uint32Array;
  tableBits: number;
  filter: Uint32Array;
  filterRamLog2: number;
  fd: number;
}

export const runFileName = (id: number) => `run-${id}.bin`;

export function bucketBitsFor(count: number, capBytes: number): number {
  const want = Math.max(MIN_BUCKET_BITS, Math.ceil(Math.log2(Math.max(1, count / 256))));
  return Math.min(want, 30, Math.max(MIN_BUCKET_BITS, Math.floor(Math.log2(capBytes / 32))));
}

export function readAll(fd: number, into: Uint8Array, position: number): void {
  for (let done = 0; done < into.length;) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw new Error(`short read at ${position + done}`);
    done += n;
  }
}
export const bytesOf = (a: Uint32Array, words = a.length) => new Uint8Array(a.buffer, a.byteOffset, words * 4);

/** The run in `path` (its header: nothing loaded yet), or why it is not a whole run. */
export function readRunHeader(path: string): { ok: true; run: Run } | { ok: false; reason: string } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < FIXED + 4) return { ok: false, reason: `${size} bytes` };
    const fixed = Buffer.alloc(FIXED);
    readAll(fd, fixed, 0);
    const u32 = (i: number) => fixed.readUInt32LE(i * 4);
    const f64 = (i: number) => fixed.readDoubleLE(32 + i * 8);
    if (u32(0) !== MAGIC || u32(1) !== VERSION) return { ok: false, reason: 'not a claims run of this version' };
    const headerLen = u32(2);
    if (headerLen !== FIXED + 8 * u32(7) + 4 || headerLen > size) return { ok: false, reason: 'bad header length' };
    const header = Buffer.alloc(headerLen);
    readAll(fd, header, 0);
    if (crc32(header.subarray(0, headerLen - 4)) !== header.readUInt32LE(headerLen - 4))
      return { ok: false, reason: 'header checksum' };
    const [bucketBits, filterLog2] = [u32(3), u32(4)];
    const count = f64(0);
    const tableOffset = headerLen + count * 16;
    const filterOffset = tableOffset + ((1 << bucketBits) + 1) * 4;
    const expected = filterOffset + (1 << filterLog2) * FILTER_BLOCK_BYTES;
    if (size !== expected) return { ok: false, reason: `${size} bytes, its header says ${expected}` };
    const inputs = Array.from({ length: u32(7) }, (_, i) => header.readDoubleLE(FIXED + i * 8));
    return {
      ok: true,
      run: {
        id: f64(5),
        gen: f64(4),
        genRuns: u32(5),
        genIndex: u32(6),
        inputs,
        minAt: f64(1),
        maxAt: f64(2),
        seqThrough: f64(3),
        path,
        count,
        bucketBits,
        filterLog2,
        size,
        keysOffset: headerLen,
        tableOffset,
        filterOffset,
        sectionsCrc: u32(20),
        table: new Uint32Array(0),
        tableBits: 0,
        filter: new Uint32Array(0),
        filterRamLog2: 0,
        fd: -1,
      },
    };
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads the run's table coarsened to `tableBits` and its filter folded to 2^filterLog2 blocks, reading
 * the filter a chunk at a time (RAM never holds more than the folded filter and one chunk). With
 * `verify`, checks the sections against their checksum: false if they do not match.
 */
export function loadRun(run: Run, tableBits: number, filterLog2: number, verify: boolean): boolean {
  const fd = openSync(run.path, 'r');
  try {
    const full = new Uint32Array((1 << run.bucketBits) + 1);
    readAll(fd, bytesOf(full), run.tableOffset);
    let crc = verify ? crc32(bytesOf(full)) : 0;
    const filter = new Uint32Array((1 << filterLog2) * FILTER_BLOCK_WORDS);
    const blocks = 1 << run.filterLog2;
    const chunk = new Uint32Array(Math.min(blocks, LOAD_CHUNK_BLOCKS) * FILTER_BLOCK_WORDS);
    for (let first = 0; first < blocks; first += LOAD_CHUNK_BLOCKS) {
      const part = chunk.subarray(0, Math.min(LOAD_CHUNK_BLOCKS, blocks - first) * FILTER_BLOCK_WORDS);
      readAll(fd, bytesOf(part), run.filterOffset + first * FILTER_BLOCK_BYTES);
      if (verify) crc = crc32(bytesOf(part), crc);
      foldInto(filter, filterLog2, part, first);
    }
    if (verify && crc !== run.sectionsCrc) return false;
    setTable(run, full, run.bucketBits, tableBits);
    run.filter = filter;
    run.filterRamLog2 = filterLog2;
    return true;
  } finally {
    closeSync(fd);
  }
}

/** Coarsens or folds what RAM holds of the run, without reading the file (only ever to less). */
export function shrinkRun(run: Run, tableBits: number, filterLog2: number): void {
  if (tableBits < run.tableBits) setTable(run, run.table, run.tableBits, tableBits);
  if (filterLog2 < run.filterRamLog2) {
    const folded = new Uint32Array((1 << filterLog2) * FILTER_BLOCK_WORDS);
    foldInto(folded, filterLog2, run.filter, 0);
    run.filter = folded;
    run.filterRamLog2 = filterLog2;
  }
}

function setTable(run: Run, table: Uint32Array, bits: number, toBits: number): void {
  const step = 2 ** (bits - toBits);
  run.table = toBits === bits ? table : Uint32Array.from({ length: (1 << toBits) + 1 }, (_, i) => table[i * step]!);
  run.tableBits = toBits;
}

const READ_KEYS = 1024; // at most 16 KiB read by a probe

/** The read buffer of a store's probes (one at a time: lookups are synchronous). */
export function createProbeBuffer() {
  const words = new Uint32Array(READ_KEYS * 4);
  return {
    bytes: words.byteLength,
    /** The `n` (<= READ_KEYS) keys from key index `from` of `run`. */
    read(run: Run, from: number, n: number): Uint32Array {
      if (run.fd < 0) run.fd = openSync(run.path, 'r');
      readAll(run.fd, bytesOf(words, n * 4), run.keysOffset + from * 16);
      return words;
    },
  };
}
export type ProbeBuffer = ReturnType<typeof createProbeBuffer>;

/**
 * Whether the run holds the key in `k[0..4)` (its filter said it may): one read of its bucket. A bucket
 * wider than READ_KEYS (a table coarsened to the RAM budget) is first narrowed by reading single keys.
 */
export function runHas(run: Run, k: Uint32Array, io: ProbeBuffer): boolean {
  const p = k[0]! >>> (32 - run.tableBits);
  let lo = run.table[p]!;
  let hi = run.table[p + 1]!; // keys [lo, hi) may hold it
  while (hi - lo > READ_KEYS) {
    const mid = (lo + hi) >>> 1;
    const c = compareKeys(io.read(run, mid, 1), 0, k, 0);
    if (c === 0) return true;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  if (hi === lo) return false;
  const keys = io.read(run, lo, hi - lo);
  let a = 0;
  let b = hi - lo - 1;
  while (a <= b) {
    const mid = (a + b) >>> 1;
    const c = compareKeys(keys, mid, k, 0);
    if (c === 0) return true;
    if (c < 0) a = mid + 1;
    else b = mid - 1;
  }
  return false;
}

export function closeRun(run: Run): void {
  if (run.fd >= 0) closeSync(run.fd);
  run.fd = -1;
}
