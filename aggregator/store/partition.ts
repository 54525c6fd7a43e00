// One state partition (README "The state, owned by partition"): the claims and key-value state of its
// users on local disk, which hold a prefix of its changelog. A step reads it through a view (the store
// plus the step's own changes); the step's changes become one changelog entry, applied here only once
// Kafka holds it, so the disk is never ahead of the changelog and any host can rebuild it by replay.
// Applied values wait in memory and reach the disk together (flush): a value changed by many steps is
// written once, and a crash replays the entries applied since the last flush.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PipelineError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { Decision } from '../attribution.js';
import { appendTouches } from '../state.js';
import { decodeEntry, type Entry, type KvOp, type SourceKind } from './changelog.js';
import { claimId, openClaimStore, type ClaimStore } from './claims.js';
import { openKv, type Kv } from './kv.js';

/** What a redelivery of a step's records must know, kept until their offsets are committed. */
interface Held {
  first: number;
  last: number;
  duplicates: Set<string>;
  decisions: Map<string, Decision>;
}
/** A value the step set, with its expiry (ms). */
export interface Value {
  value: string;
  expiresAt: number;
}
/** Reads the changelog partition from `from` (-1: the earliest retained) to its end; returns the next offset. */
export type ReadChangelog = (
  from: number,
  onRecord: (offset: number, value: Buffer) => Promise<void>,
) => Promise<number>;

const PLAIN: Decision = { invalidReason: '', earns: false };
const isPlain = (d: Decision) => !d.invalidReason && !d.attribution && !d.earns && !d.userFlags;
const spot = (offset: number, index: number) => `${offset}:${index}`;
const heldKey = (kind: SourceKind, first: number) => `r:${kind}:${String(first).padStart(16, '0')}`;
const REPLAY_FLUSH_KEYS = 5_000;

export interface PartitionConfig {
  dir: string;
  windowMs: number;
  sliceMs?: number;
  filterBytes?: number;
  /** Applied values reach the disk at least this often (ms), and as soon as they hold `flushBytes`. */
  flushMs?: number;
  flushBytes?: number;
}

export function openPartition(config: PartitionConfig, deps: { log: Logger }) {
  const log = deps.log.child({ mod: 'partition_state', dir: config.dir });
  let claims: ClaimStore;
  let kv: Kv;
  let seq: number;
  let next: number;
  let decided: Record<SourceKind, number>;
  let held: Record<SourceKind, Held[]>;
  /** Applied, not yet on disk: values and meta (null: delete), with the size of the values. */
  let dirty = new Map<string, Value>();
  let dirtyMeta = new Map<string, Buffer | null>();
  let dirtyBytes = 0;
  /** The values a flush is writing, read until the disk has them. */
  let writing = new Map<string, Value>();
  let flushing: Promise<void> = Promise.resolve();

  function open(): void {
    claims = openClaimStore(
      {
        dir: join(config.dir, 'claims'),
        windowMs: config.windowMs,
        sliceMs: config.sliceMs,
        filterBytes: config.filterBytes,
      },
      { log },
    );
    kv = openKv({ dir: join(config.dir, 'kv') }, { log });
    readMeta();
  }
  /** What the disk holds: a step's failed write may have left memory ahead of it. */
  function readMeta(): void {
    const meta = (key: string) => {
      const v = kv.meta(key);
      return v ? Number(v.toString()) : -1;
    };
    seq = meta('seq');
    next = meta('next');
    decided = { b: meta('d:b'), c: meta('d:c') };
    held = { b: [], c: [] };
    for (const { key, value } of kv.metaRange('r:')) held[key[2] as SourceKind].push(readHeld(value));
  }
  open();
  const flusher = setInterval(
    () => void flush().catch((err: unknown) => log.warn({ err }, 'state_flush_failed')),
    config.flushMs ?? 5_000,
  ).unref();

  type StoredHeld = { first: number; last: number; d: [number, number][]; o: [number, number, Decision][] };
  function heldOf(h: StoredHeld): Held {
    return {
      first: h.first,
      last: h.last,
      duplicates: new Set(h.d.map(([o, i]) => spot(o, i))),
      decisions: new Map(h.o.map(([o, i, d]) => [spot(o, i), d])),
    };
  }
  function readHeld(value: Buffer): Held {
    return heldOf(JSON.parse(value.toString()) as StoredHeld);
  }
  function holdEntry(e: Entry): { key: string; value: Buffer } {
    const h: StoredHeld = { first: e.source.first, last: e.source.last, d: e.duplicates, o: e.decisions };
    held[e.source.kind].push(heldOf(h));
    return { key: heldKey(e.source.kind, e.source.first), value: Buffer.from(JSON.stringify(h)) };
  }
  const numberMeta = (key: string, v: number) => ({ key, value: Buffer.from(String(v)) });
  /** Where the disk holds through, written with every batch of values. */
  const positionMeta = () => [
    numberMeta('seq', seq),
    numberMeta('next', next),
    numberMeta('d:b', decided.b),
    numberMeta('d:c', decided.c),
  ];
  /** Drops what was applied but not flushed (the changelog has it). */
  function forgetApplied(): void {
    dirty = new Map();
    dirtyMeta = new Map();
    dirtyBytes = 0;
  }

  /** The value of `key` after `ops` on `base` (touches appended, puts set). */
  function applyOp(base: string | undefined, op: KvOp): string {
    return op.op === 'touch' ? appendTouches(base ?? '', op.lines, op.oldest, op.cutAt) : op.value;
  }

  /** A step's view at time `at` (ms): reads see the store and the step's own changes. */
  function view(at: number) {
    const values = new Map<string, Value>();
    const ops: KvOp[] = [];
    const ids: Buffer[] = [];
    const mine = new Set<string>();
    const duplicates: [number, number][] = [];
    const decisions: [number, number, Decision][] = [];
    const get = (key: string) => values.get(key)?.value ?? stored(key, at);
    return {
      at,
      seq: seq + 1,
      /** The last source offset this partition decided: a record at or before it is a redelivery. */
      decidedThrough: (kind: SourceKind) => decided[kind],
      /** A redelivered event: its decision, or null if it was a duplicate (or is no longer known). */
      known(kind: SourceKind, offset: number, index: number): Decision | null {
        const h = held[kind].find((x) => x.first <= offset && offset <= x.last);
        if (!h || h.duplicates.has(spot(offset, index))) return null;
        return h.decisions.get(spot(offset, index)) ?? PLAIN;
      },
      /** Claims `id` for this step unless claimed already (by the store or earlier in the step). */
      claimIfNew(id: string): boolean {
        if (mine.has(id)) return false;
        const key = claimId(id);
        if (claims.has(key)) return false;
        mine.add(id);
        ids.push(key);
        return true;
      },
      duplicate(offset: number, index: number) {
        duplicates.push([offset, index]);
      },
      decided(offset: number, index: number, d: Decision) {
        if (!isPlain(d)) decisions.push([offset, index, d]);
      },
      get,
      change(op: KvOp) {
        values.set(op.key, {
          value: applyOp(get(op.key), op),
          expiresAt: Math.max(op.expiresAt, values.get(op.key)?.expiresAt ?? 0),
        });
        ops.push(op);
      },
      /** The step's entry and the values to store once Kafka holds it. */
      entry(source: Entry['source']): { entry: Entry; values: Map<string, Value> } {
        return { entry: { seq: seq + 1, at, source, claims: Buffer.concat(ids), duplicates, decisions, ops }, values };
      },
    };
  }

  /** A value as applied: waiting in memory, or on disk; undefined when absent or expired at `now`. */
  function stored(key: string, now: number): string | undefined {
    const v = dirty.get(key) ?? writing.get(key);
    if (v) return v.expiresAt > now ? v.value : undefined;
    return kv.get(key, now)?.toString();
  }

  function setDirty(key: string, v: Value): void {
    dirtyBytes += v.value.length - (dirty.get(key)?.value.length ?? 0);
    dirty.set(key, v);
  }

  /**
   * Applies an entry Kafka holds (at changelog `offset`, or unknown: -1) with the values its step
   * computed: the claims at once (their own log), the rest in memory until the next flush.
   */
  function apply(entry: Entry, values: Map<string, Value>, offset: number): void {
    if (entry.seq !== seq + 1)
      throw new PipelineError('state_out_of_order', `entry ${entry.seq} after ${seq}`, { retriable: false });
    if (entry.seq > claims.throughSeq()) claims.add(split(entry.claims), entry.at, entry.seq);
    seq = entry.seq;
    if (offset >= 0) next = offset + 1;
    const kind = entry.source.kind;
    decided[kind] = Math.max(decided[kind], entry.source.last);
    const hold = holdEntry(entry);
    dirtyMeta.set(hold.key, hold.value);
    for (const [key, v] of values) setDirty(key, v);
    if (dirtyBytes >= (config.flushBytes ?? 4 * 1024 * 1024))
      void flush().catch((err: unknown) => log.warn({ err }, 'state_flush_failed'));
  }

  /** Writes what was applied to the disk, in one transaction with the entry and offset it holds through. */
  function flush(): Promise<void> {
    flushing = flushing
      .catch(() => {})
      .then(async () => {
        if (dirty.size === 0 && dirtyMeta.size === 0) return;
        const values = dirty;
        const meta = [...[...dirtyMeta].map(([key, value]) => ({ key, value })), ...positionMeta()];
        forgetApplied();
        writing = values;
        try {
          await kv.write({
            puts: [...values].map(([key, v]) => ({ key, value: Buffer.from(v.value), expiresAt: v.expiresAt })),
            meta,
          });
        } catch (err) {
          // Still only in memory: kept for the next flush, under what was applied since.
          for (const [key, v] of values) if (!dirty.has(key)) setDirty(key, v);
          for (const { key, value } of meta) if (key.startsWith('r:') && !dirtyMeta.has(key)) dirtyMeta.set(key, value);
          throw err;
        } finally {
          writing = new Map();
        }
      });
    return flushing;
  }

  /** The source offsets before `offset` are committed: their outcomes are no longer needed. */
  function committed(kind: SourceKind, offset: number): void {
    held[kind] = held[kind].filter((h) => {
      if (h.last >= offset) return true;
      dirtyMeta.set(heldKey(kind, h.first), null);
      return false;
    });
  }

  /**
   * Catches up with the changelog: applies every entry after those the disk holds. When the claims are
   * behind the key-value store (the disk lost a write), or the changelog no longer has the entries
   * that follow, the disk is wiped and the partition rebuilt from the earliest retained entry.
   */
  async function restore(
    read: ReadChangelog,
    commits: Record<SourceKind, number>,
  ): Promise<{ entries: number; from: number }> {
    await flush().catch((err: unknown) => log.warn({ err }, 'state_flush_failed')); // what was applied is a prefix of the changelog
    forgetApplied();
    readMeta();
    for (let attempt = 0; ; attempt++) {
      const claimsThrough = claims.throughSeq();
      const from = claimsThrough < seq || attempt > 0 ? -1 : next;
      try {
        const entries = await replay(read, from, claimsThrough, commits);
        committed('b', commits.b);
        committed('c', commits.c);
        return { entries, from };
      } catch (err) {
        if (!(err instanceof PipelineError) || err.code !== 'changelog_gap' || attempt > 0) throw err;
        log.error({ err }, 'state_rebuilt_from_changelog');
        await wipe();
      }
    }
  }

  async function replay(
    read: ReadChangelog,
    from: number,
    claimsThrough: number,
    commits: Record<SourceKind, number>,
  ): Promise<number> {
    const pending = new Map<string, Value>();
    let meta: { key: string; value: Buffer | null }[] = [];
    let applied = 0;
    const flush = async () => {
      if (pending.size === 0 && meta.length === 0) return;
      const puts = [...pending].map(([key, v]) => ({ key, value: Buffer.from(v.value), expiresAt: v.expiresAt }));
      pending.clear();
      await kv.write({ puts, meta: [...meta, ...positionMeta()] });
      meta = [];
    };
    const now = Date.now();
    const end = await read(from, async (offset, value) => {
      const decoded = decodeEntry(value);
      if (!decoded.ok)
        throw new PipelineError('changelog_unreadable', `changelog offset ${offset}: ${decoded.reason}`, {
          retriable: false,
        });
      const e = decoded.entry;
      if (e.seq > claimsThrough) claims.add(split(e.claims), e.at, e.seq);
      if (e.seq <= seq) return;
      if (seq >= 0 && e.seq !== seq + 1)
        throw new PipelineError('changelog_gap', `changelog offset ${offset} holds entry ${e.seq} after ${seq}`, {
          retriable: false,
        });
      for (const op of e.ops) {
        const base = pending.get(op.key)?.value ?? kv.get(op.key, now)?.toString();
        const expiresAt = Math.max(op.expiresAt, pending.get(op.key)?.expiresAt ?? 0);
        if (expiresAt > now) pending.set(op.key, { value: applyOp(base, op), expiresAt });
      }
      seq = e.seq;
      next = offset + 1;
      decided[e.source.kind] = Math.max(decided[e.source.kind], e.source.last);
      if (e.source.last >= commits[e.source.kind]) meta.push(holdEntry(e)); // else its records are never redelivered
      applied++;
      if (pending.size >= REPLAY_FLUSH_KEYS) await flush();
    });
    await flush();
    // The disk holds entries past the changelog's end: not this changelog's (the topic was recreated).
    if (next > end)
      throw new PipelineError(
        'changelog_gap',
        `the state holds changelog offsets up to ${next - 1}, the changelog ends at ${end - 1}`,
        { retriable: false },
      );
    return applied;
  }

  async function wipe(): Promise<void> {
    writing = new Map();
    forgetApplied();
    claims.close();
    await kv.close();
    rmSync(config.dir, { recursive: true, force: true });
    open();
  }

  return {
    view,
    apply,
    flush,
    committed,
    restore,
    get seq() {
      return seq;
    },
    /** Seals and drops what expired (claims slices, key-value entries). */
    async maintain(now: number): Promise<void> {
      await claims.maintain(now);
      await kv.sweep(now, 10_000);
    },
    stats: () => ({ claims: claims.stats(), kv: kv.stats() }),
    async close(): Promise<void> {
      clearInterval(flusher);
      await flush();
      claims.close();
      await kv.close();
    },
  };
}
export type Partition = ReturnType<typeof openPartition>;
export type StepView = ReturnType<Partition['view']>;

function split(ids: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < ids.length; i += 16) out.push(ids.subarray(i, i + 16));
  return out;
}
