// The exact dedup memory of one state partition (README "State"): every claimed id for the window, at
// 16 bytes on disk plus a filter, in place of a Redis key of 214 bytes of RAM. The current slice is a
// hash table in RAM backed by an append-only log; older slices are sorted run files, merged as they age.
import { mkdirSync, rmSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { PipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { filterMayHave } from './claims-filter.js';
import { createPermute } from './claims-key.js';
import { logFileName, newRecord, openLogWriter, type LogWriter } from './claims-log.js';
import { mergeRuns } from './claims-merge.js';
import { mergeSpans, pickMerge, planRam } from './claims-plan.js';
import { recoverClaimsDir, wipeClaimsDir, type Recovered } from './claims-recover.js';
import { closeRun, createProbeBuffer, loadRun, runHas, shrinkRun, type Run } from './claims-run.js';
import { createRunWriter } from './claims-run-writer.js';
import { createKeyTable, sortKeys, type KeyTable } from './claims-table.js';

export { claimId } from './claims-key.js';

export interface ClaimStoreConfig {
  /** The partition's directory (created if missing); only this store writes files here. */
  dir: string;
  /** A claim is remembered at least this long after `at`; a merged run keeps it up to 24 slices (and a quarter window at most) longer. */
  windowMs: number;
  /** Claims of one slice share a run until merged (default 1 h); tests use small values. */
  sliceMs?: number;
  /** RAM for the runs' filters and bucket tables (default 64 MiB): past it filters fold, denser, never wrong. */
  filterBytes?: number;
  /** Ids held in hash tables before add() writes them to runs (default 400,000: 16 MiB of tables with a batch of 100,000 on top). */
  memtableIds?: number;
}

export interface ClaimStoreStats {
  ids: number;
  diskBytes: number;
  ramBytes: number;
  runs: number;
}

export interface ClaimStore {
  /** Whether `id` (16 bytes, claimId) was claimed within the window: exact. */
  has(id: Buffer): boolean;
  /** Claims `ids` at `at` (ms) for changelog entry `seq` (strictly increasing): on disk when it returns. */
  add(ids: Buffer[], at: number, seq: number): void;
  /** The highest seq whose ids are all on local disk (-1 when none). */
  throughSeq(): number;
  /** Seals ended slices, drops expired runs, merges aged ones. */
  maintain(now: number): Promise<void>;
  stats(): ClaimStoreStats;
  close(): void;
}

const DEFAULTS = { sliceMs: 3_600_000, filterBytes: 64 * 2 ** 20, memtableIds: 400_000 };
const MAX_OPEN_FILES = 64;
const LOG_ROTATE_BYTES = 256 * 1024;

interface Mem {
  slice: number;
  table: KeyTable;
  minAt: number;
  maxAt: number;
}

export function openClaimStore(config: ClaimStoreConfig, deps: { now?(): number; log?: Logger } = {}): ClaimStore {
  if (endianness() !== 'LE')
    throw new PipelineError('claims_big_endian', 'claims files are little-endian', { retriable: false });
  const { dir, windowMs } = config;
  const sliceMs = config.sliceMs ?? DEFAULTS.sliceMs;
  const filterBytes = config.filterBytes ?? DEFAULTS.filterBytes;
  const memCap = config.memtableIds ?? DEFAULTS.memtableIds;
  const spans = mergeSpans(sliceMs, windowMs);
  const now = deps.now ?? Date.now;
  const log = deps.log?.child({ mod: 'claims_store', dir });
  const sliceOf = (at: number) => Math.floor(at / sliceMs);
  mkdirSync(dir, { recursive: true });

  const io = createProbeBuffer();
  const key = new Uint32Array(4);
  const mems = new Map<number, Mem>();
  let permute = createPermute(Buffer.alloc(32));
  let runs: Run[] = [];
  let memIds = 0;
  let lastSeq = -1;
  let nextGen = 1;
  let nextRunId = 1;
  let logs: { gen: number; size: number }[] = [];
  let writer = null as LogWriter | null;
  let openFiles = 0;
  let closed = false;
  let maintaining: Promise<void> | null = null;

  function start(rec: Recovered): void {
    permute = createPermute(rec.secret);
    runs = rec.runs.sort((a, b) => a.maxAt - b.maxAt);
    mems.clear();
    memIds = 0;
    lastSeq = Math.max(-1, ...runs.map((r) => r.seqThrough));
    nextGen = rec.nextGen;
    nextRunId = rec.nextRunId;
    for (const l of rec.logs) {
      for (const r of l.records) {
        lastSeq = Math.max(lastSeq, r.seq);
        if (r.keys.length > 0 && r.at + windowMs > now()) remember(r.keys, r.keys.length / 4, r.at);
      }
    }
    logs = rec.logs.map((l) => ({ gen: l.gen, size: l.size }));
    const current = logs.at(-1);
    if (current) writer = openLogWriter(join(dir, logFileName(current.gen)));
    else startLog();
  }
  const recovered = recoverClaimsDir(dir, log);
  start(recovered);
  if (!fitRam(true)) {
    writer?.close();
    start(wipeClaimsDir(dir, 'a run failed its checksum', log));
  }
  if (memIds >= memCap) seal();
  log?.info({ ...stats(), throughSeq: lastSeq }, 'claims_store_opened');

  /** A new log, opened with a record of the seq so far (so it survives its runs' expiry). */
  function startLog(): void {
    const gen = nextGen++;
    writer = openLogWriter(join(dir, logFileName(gen)));
    if (lastSeq >= 0) writer.append(newRecord(0, lastSeq, 0).seal());
    logs.push({ gen, size: writer.size });
  }

  function remember(keys: Uint32Array, n: number, at: number): void {
    const slice = sliceOf(at);
    let m = mems.get(slice);
    if (!m) mems.set(slice, (m = { slice, table: createKeyTable(), minAt: at, maxAt: at }));
    m.minAt = Math.min(m.minAt, at);
    m.maxAt = Math.max(m.maxAt, at);
    for (let i = 0; i < n; i++) if (m.table.add(keys, i * 4)) memIds++;
  }

  /** Writes every hash table as a run (one per slice), then deletes the logs that held them. */
  function seal(rotate = false): void {
    if (mems.size === 0 && !rotate) return;
    const consumed = logs;
    const gen = consumed.at(-1)!.gen;
    consumed.at(-1)!.size = writer!.size;
    writer!.close();
    logs = [];
    startLog();
    logs = [...consumed, ...logs];
    const list = [...mems.values()].sort((a, b) => a.slice - b.slice);
    const made: Run[] = [];
    try {
      list.forEach((m, genIndex) => {
        const meta = {
          id: nextRunId++,
          gen,
          genRuns: list.length,
          genIndex,
          inputs: [],
          minAt: m.minAt,
          maxAt: m.maxAt,
          seqThrough: lastSeq,
        };
        const w = createRunWriter(dir, meta, m.table.count, filterBytes);
        try {
          w.append(sortKeys(m.table.keys(), m.table.count), m.table.count);
          made.push(w.finish());
        } catch (err) {
          w.abort();
          throw err;
        }
      });
    } catch (err) {
      for (const r of made) rmSync(r.path, { force: true });
      throw new PipelineError('claims_seal_failed', `claims ${dir}: ${(err as Error).message}`, {
        retriable: true,
        cause: err,
      });
    }
    for (const l of consumed) rmSync(join(dir, logFileName(l.gen)), { force: true });
    logs = logs.slice(consumed.length);
    mems.clear();
    memIds = 0;
    install(made, []);
    log?.debug({ runs: made.length, ids: made.reduce((n, r) => n + r.count, 0) }, 'claims_slices_sealed');
  }

  function install(add: Run[], remove: Run[]): void {
    for (const r of remove) {
      if (r.fd >= 0) openFiles--;
      closeRun(r);
      rmSync(r.path, { force: true });
    }
    const gone = new Set(remove);
    runs = [...runs.filter((r) => !gone.has(r)), ...add].sort((a, b) => a.maxAt - b.maxAt);
    fitRam(false);
  }

  /**
   * Shares the RAM budget: bucket tables first (coarsened past an eighth of it, so a probe reads more),
   * the rest to the filters (folded). False when `verify` found a run's sections damaged.
   */
  function fitRam(verify: boolean): boolean {
    const { tableBits: bits, filterLog2: filters } = planRam(runs, filterBytes);
    return runs.every((r, i) => {
      const loaded = r.table.length > 0;
      if (loaded && bits[i]! <= r.tableBits && filters[i]! <= r.filterRamLog2) {
        shrinkRun(r, bits[i]!, filters[i]!);
        return true;
      }
      return loadRun(r, bits[i]!, filters[i]!, verify);
    });
  }

  function has(id: Buffer): boolean {
    checkId(id);
    permute(id, 0, key, 0);
    for (const m of mems.values()) if (m.table.has(key, 0)) return true;
    const k1 = key[1]!;
    const k2 = key[2]!;
    for (let i = runs.length - 1; i >= 0; i--) {
      const r = runs[i]!;
      if (!filterMayHave(r.filter, (1 << r.filterRamLog2) - 1, k1, k2)) continue;
      const shut = r.fd < 0;
      if (shut && openFiles >= MAX_OPEN_FILES) closeFiles();
      const found = runHas(r, key, io);
      if (shut && r.fd >= 0) openFiles++;
      if (found) return true;
    }
    return false;
  }
  function closeFiles(): void {
    runs.forEach(closeRun);
    openFiles = 0;
  }

  function add(ids: Buffer[], at: number, seq: number): void {
    if (closed) throw new PipelineError('claims_closed', `claims ${dir} are closed`, { retriable: false });
    if (!(seq > lastSeq))
      throw new PipelineError('claims_seq_order', `claims ${dir}: seq ${seq} after ${lastSeq}`, { retriable: false });
    ids.forEach(checkId);
    // A claim already past the window needs no remembering (a replay of old changelog entries).
    const n = at + windowMs > now() ? ids.length : 0;
    const record = newRecord(n, seq, at);
    for (let i = 0; i < n; i++) permute(ids[i]!, 0, record.keys, i * 4);
    writer!.append(record.seal());
    lastSeq = seq;
    if (n === 0) return;
    remember(record.keys, n, at);
    if (memIds < memCap) return;
    try {
      seal();
    } catch (err) {
      // The claims are in the log already: add() succeeded. The tables stay in RAM until a seal works.
      log?.error({ err }, 'claims_seal_failed');
    }
  }

  async function maintainNow(t: number): Promise<void> {
    const slice = sliceOf(t);
    if (memIds * 2 >= memCap || [...mems.keys()].some((s) => s < slice)) seal();
    else if (mems.size === 0 && writer!.size > LOG_ROTATE_BYTES) seal(true); // a log of adds without ids
    const expired = runs.filter((r) => r.maxAt + windowMs <= t);
    if (expired.length > 0) {
      install([], expired);
      log?.debug({ runs: expired.length, ids: expired.reduce((n, r) => n + r.count, 0) }, 'claims_runs_expired');
    }
    const next = () => pickMerge(runs, { slice, sliceMs, spans, open: [...mems.keys()] });
    for (let group = next(); group && !closed; group = next()) {
      const meta = {
        id: nextRunId++,
        gen: -1,
        genRuns: 0,
        genIndex: 0,
        inputs: group.map((r) => r.id),
        minAt: Math.min(...group.map((r) => r.minAt)),
        maxAt: Math.max(...group.map((r) => r.maxAt)),
        seqThrough: Math.max(...group.map((r) => r.seqThrough)),
      };
      const merged = await mergeRuns(dir, group, meta, filterBytes, () => closed);
      if (!merged || closed) return; // a reopen finds the merged run and removes its inputs
      install([merged], group);
      log?.debug({ runs: group.length, ids: merged.count }, 'claims_runs_merged');
    }
  }

  function stats(): ClaimStoreStats {
    let ram = io.bytes;
    for (const m of mems.values()) ram += m.table.bytes;
    for (const r of runs) ram += r.table.byteLength + r.filter.byteLength;
    const logBytes = logs.reduce((n, l) => n + l.size, 0) - (logs.at(-1)?.size ?? 0) + (writer?.size ?? 0);
    return {
      ids: runs.reduce((n, r) => n + r.count, 0) + memIds,
      diskBytes: runs.reduce((n, r) => n + r.size, 0) + logBytes,
      ramBytes: ram,
      runs: runs.length,
    };
  }

  return {
    has,
    add,
    throughSeq: () => lastSeq,
    maintain(t: number): Promise<void> {
      if (closed) return Promise.resolve();
      maintaining ??= maintainNow(t).finally(() => {
        maintaining = null;
      });
      return maintaining;
    },
    stats,
    close(): void {
      if (closed) return;
      closed = true;
      closeFiles();
      writer?.close();
    },
  };
}

function checkId(id: Buffer): void {
  if (id.length !== 16)
    throw new PipelineError('claims_bad_id', `a claim id is 16 bytes, not ${id.length}`, { retriable: false });
}
