// The user-keyed state of one state partition (touch lists, person flags, pairing hashes) and the meta
// values that say which prefix of the changelog it holds, in one LMDB environment on local disk (lmdb-js).
// The changelog is the durable truth: this store must survive the process dying, not the machine.
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { getLastVersion, open, type Database, type RootDatabase } from 'lmdb';
import { PipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { currentBootId, readBootMark, syncPath, writeBootMark } from './kv-boot-mark.js';
import { openExpiryView, sweepExpired } from './kv-sweep.js';

export interface KvConfig {
  dir: string;
  mapSizeBytes?: number;
}
export interface KvPut {
  key: string;
  value: Buffer;
  expiresAt: number;
}
export interface KvBatch {
  puts: KvPut[];
  deletes?: string[];
  meta?: { key: string; value: Buffer | null }[];
}

export interface Kv {
  /** The value, or undefined when absent or expired (expiresAt <= now). Synchronous; the Buffer is the caller's. */
  get(key: string, now: number): Buffer | undefined;
  getMany(keys: string[], now: number): (Buffer | undefined)[];
  /**
   * One atomic LMDB transaction: puts (value + expiresAt, ms), deletes, and meta puts/deletes (null value).
   * Resolves once committed (visible to get). Never reorders: two writes resolve in call order and the
   * second sees the first. The values' Buffers must not change until it resolves.
   */
  write(batch: KvBatch): Promise<void>;
  /** Meta keys never expire (a separate named DB). */
  meta(key: string): Buffer | undefined;
  metaRange(prefix: string): { key: string; value: Buffer }[];
  /**
   * Deletes up to maxKeys expired entries, scanning on from where the last sweep stopped in chunks between
   * which the event loop runs; returns how many. A call while a sweep runs joins it.
   */
  sweep(now: number, maxKeys?: number): Promise<number>;
  stats(): { keys: number; diskBytes: number };
  close(): Promise<void>;
}

/** LMDB's limit with lmdb-js's default page size; a longer key is a fault of the caller. */
const MAX_KEY_BYTES = 1978;
const DATA_FILE = 'data.mdb';

/**
 * Opens the store in `config.dir`. A store left open by an earlier boot may be torn (no fsync, below): it
 * is deleted and the store starts empty, which the partition's restore fills from the changelog.
 */
export function openKv(config: KvConfig, deps: { log?: Logger; bootId?: () => string } = {}): Kv {
  const log = deps.log?.child({ mod: 'kv', dir: config.dir });
  const bootId = (deps.bootId ?? currentBootId)();
  const trust = readBootMark(config.dir, bootId, DATA_FILE);
  if (trust === 'untrusted') {
    log?.warn({ bootId }, 'kv_discarded_after_reboot');
    rmSync(join(config.dir, DATA_FILE), { force: true });
    rmSync(join(config.dir, 'lock.mdb'), { force: true });
  }
  const root: RootDatabase = open({
    path: config.dir,
    // No fsync: a commit is in the OS's page cache when write() resolves, which a killed process cannot
    // lose, and LMDB's copy-on-write with the meta page written last keeps every commit whole or absent.
    noSync: true,
    // Commits write pages in place in the shared map instead of pwrite()ing copies: half the writer's CPU
    // (README figures). The price: a stray native write could corrupt the map, and a full disk is SIGBUS.
    useWritemap: true,
    maxDbs: 2,
    ...(config.mapSizeBytes ? { mapSize: config.mapSizeBytes } : {}),
  });
  // The entry's version (8 bytes in front of the value, kept by lmdb-js) is its expiry in ms: the sweep
  // reads it without the value, and deletes only if it is unchanged.
  const db: Database<Buffer, string> = root.openDB({ name: 'kv', encoding: 'binary', useVersions: true });
  const expiries = openExpiryView(root, 'kv');
  const metaDb: Database<Buffer, string> = root.openDB({ name: 'meta', encoding: 'binary' });
  writeBootMark(config.dir, { open: bootId });
  log?.info({ keys: entries(), discarded: trust === 'untrusted' }, 'kv_opened');

  let closed = false;
  let lastWrite: Promise<unknown> = Promise.resolve();
  let sweeping: Promise<number> | undefined;
  const sweepState = { from: undefined as string | undefined };

  function entries(): number {
    return (db.getStats() as { entryCount: number }).entryCount;
  }
  function assertOpen(): void {
    if (closed) throw new PipelineError('kv_closed', `key-value store ${config.dir} is closed`, { retriable: false });
  }

  function get(key: string, now: number): Buffer | undefined {
    if (!usableKey(key)) return undefined;
    const raw = db.getBinaryFast(key); // valid until the next read: copied out below
    if (raw === undefined || getLastVersion() <= now) return undefined;
    // lmdb-js sets `length` on its reusable buffer by hand, which Buffer.from and copy() reject: copy a view.
    const out = Buffer.allocUnsafe(raw.length);
    out.set(new Uint8Array(raw.buffer, raw.byteOffset, raw.length));
    return out;
  }

  async function write(batch: KvBatch): Promise<void> {
    assertOpen();
    checkBatch(batch);
    // One lmdb-js batch is one transaction: its writer thread waits for the whole block before committing.
    const done = db.batch(() => {
      for (const p of batch.puts) void db.put(p.key, p.value, p.expiresAt);
      for (const key of batch.deletes ?? []) void db.remove(key);
      for (const m of batch.meta ?? []) void (m.value === null ? metaDb.remove(m.key) : metaDb.put(m.key, m.value));
    });
    lastWrite = done.catch(() => {});
    try {
      await done;
    } catch (err) {
      throw new PipelineError('kv_write_failed', `key-value store ${config.dir}: write failed`, {
        retriable: false,
        cause: err,
      });
    }
  }

  return {
    get,
    getMany: (keys, now) => keys.map((key) => get(key, now)),
    write,
    meta: (key) => (usableKey(key) ? metaDb.getBinary(key) : undefined),
    metaRange(prefix) {
      const out: { key: string; value: Buffer }[] = [];
      for (const { key, value } of metaDb.getRange({ start: prefix || undefined })) {
        if (!key.startsWith(prefix)) break;
        out.push({ key, value });
      }
      return out;
    },
    sweep(now, maxKeys = 10_000) {
      assertOpen();
      sweeping ??= sweepExpired(db, expiries, sweepState, now, maxKeys, () => closed)
        .then((r) => {
          log?.debug(r, 'kv_swept');
          return r.deleted;
        })
        .finally(() => (sweeping = undefined));
      return sweeping;
    },
    stats: () => ({ keys: entries(), diskBytes: statSync(join(config.dir, DATA_FILE)).blocks * 512 }),
    async close() {
      if (closed) return;
      closed = true;
      await sweeping?.catch(() => {});
      await lastWrite;
      await root.close();
      syncPath(join(config.dir, DATA_FILE));
      writeBootMark(config.dir, 'closed');
    },
  };
}

function usableKey(key: string): boolean {
  return key.length > 0 && (key.length * 3 <= MAX_KEY_BYTES || Buffer.byteLength(key) <= MAX_KEY_BYTES);
}

/** Checked before anything is queued: lmdb-js would commit the writes queued before a throwing one. */
function checkBatch(batch: KvBatch): void {
  const bad = (what: string) => new PipelineError('kv_bad_write', `key-value write: ${what}`, { retriable: false });
  for (const p of batch.puts) {
    if (!usableKey(p.key)) throw bad(`key of ${Buffer.byteLength(p.key)} bytes (1..${MAX_KEY_BYTES})`);
    if (!Number.isFinite(p.expiresAt)) throw bad(`expiresAt ${p.expiresAt} of ${p.key}`);
    if (!Buffer.isBuffer(p.value)) throw bad(`value of ${p.key} is not a Buffer`);
  }
  for (const key of batch.deletes ?? [])
    if (!usableKey(key)) throw bad(`delete key of ${Buffer.byteLength(key)} bytes`);
  for (const m of batch.meta ?? []) {
    if (!usableKey(m.key)) throw bad(`meta key of ${Buffer.byteLength(m.key)} bytes`);
    if (m.value !== null && !Buffer.isBuffer(m.value)) throw bad(`meta value of ${m.key} is not a Buffer`);
  }
}
