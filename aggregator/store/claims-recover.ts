// Reads a claims directory back after any stop (close, SIGKILL, a crash inside a seal or a merge) and
// makes it consistent: runs a merge replaced are removed, a seal cut short is undone (its log still
// holds its claims), torn log tails are cut. What cannot be read is wiped: throughSeq() is then -1,
// and the owner replays its changelog.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../common/log.js';
import { KEY_SECRET_BYTES } from './claims-key.js';
import { logFileName, readLog, type LogRecord } from './claims-log.js';
import { readRunHeader, type Run } from './claims-run.js';

const KEY_FILE = 'key';
const RUN_FILE = /^run-(\d+)\.bin$/;
const LOG_FILE = /^log-(\d+)\.bin$/;

export interface Recovered {
  /** The directory's permutation key: ids are stored under it, so it lives as long as they do. */
  secret: Buffer;
  runs: Run[];
  /** Logs whose claims are in no run yet, oldest first, with their whole records. */
  logs: { gen: number; records: LogRecord[]; tornBytes: number; size: number }[];
  nextGen: number;
  nextRunId: number;
}

export function recoverClaimsDir(dir: string, log: Logger | undefined): Recovered {
  const names = readdirSync(dir);
  for (const n of names) if (n.endsWith('.tmp')) rmSync(join(dir, n), { force: true });
  const runFiles = names.filter((n) => RUN_FILE.test(n));
  const logGens = names.flatMap((n) => (LOG_FILE.exec(n) ? [Number(LOG_FILE.exec(n)![1])] : [])).sort((a, b) => a - b);
  const secret = readKey(dir);
  if (!secret)
    return runFiles.length + logGens.length > 0
      ? wipeClaimsDir(dir, 'the key file is missing', log)
      : wipeClaimsDir(dir, '', log);

  let runs: Run[] = [];
  for (const f of runFiles) {
    const h = readRunHeader(join(dir, f));
    if (!h.ok) return wipeClaimsDir(dir, `${f}: ${h.reason}`, log);
    runs.push(h.run);
  }
  const drop = (r: Run) => rmSync(r.path, { force: true });
  // A merge renames its run into place before it deletes its inputs.
  const merged = new Set(runs.flatMap((r) => r.inputs));
  runs.filter((r) => merged.has(r.id)).forEach(drop);
  runs = runs.filter((r) => !merged.has(r.id));
  // A seal writes all the runs of its log generation, then deletes the logs up to it: a generation
  // whose log is still there with runs missing was cut short, and its logs still hold everything. (Once
  // its log is gone, merges may have taken some of its runs.)
  const byGen = new Map<number, Run[]>();
  for (const r of runs) if (r.gen >= 0) byGen.set(r.gen, [...(byGen.get(r.gen) ?? []), r]);
  let sealedThrough = -1;
  for (const [gen, rs] of byGen) {
    const whole = !logGens.includes(gen) || new Set(rs.map((r) => r.genIndex)).size === rs[0]!.genRuns;
    if (whole) sealedThrough = Math.max(sealedThrough, gen);
    else {
      rs.forEach(drop);
      runs = runs.filter((r) => r.gen !== gen);
    }
  }
  const logs: Recovered['logs'] = [];
  for (const gen of logGens) {
    const path = join(dir, logFileName(gen));
    if (gen <= sealedThrough) {
      rmSync(path, { force: true });
      continue;
    }
    const { records, tornBytes, size } = readLog(path);
    if (tornBytes > 0) log?.warn({ gen, tornBytes }, 'claims_log_torn_tail_dropped');
    logs.push({ gen, records, tornBytes, size });
  }
  const gens = [...logGens, ...runs.map((r) => r.gen)];
  const ids = runs.flatMap((r) => [r.id, ...r.inputs]);
  return { secret, runs, logs, nextGen: Math.max(0, ...gens) + 1, nextRunId: Math.max(0, ...ids) + 1 };
}

/** Deletes everything in the directory and starts it afresh with a new key (reason '' when it was new). */
export function wipeClaimsDir(dir: string, reason: string, log: Logger | undefined): Recovered {
  if (reason) log?.error({ dir, reason }, 'claims_store_wiped');
  for (const n of readdirSync(dir)) rmSync(join(dir, n), { recursive: true, force: true });
  const secret = randomBytes(KEY_SECRET_BYTES);
  const tmp = join(dir, `${KEY_FILE}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, secret);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, KEY_FILE));
  return { secret, runs: [], logs: [], nextGen: 1, nextRunId: 1 };
}

function readKey(dir: string): Buffer | null {
  try {
    const b = readFileSync(join(dir, KEY_FILE));
    return b.length === KEY_SECRET_BYTES ? b : null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
