// The state one step works on: its partition's view for what is keyed by the user (claims, the
// user's touch lists and flags, the pairing), Redis for what other users' events read too (a
// device's clicks, named clicks, device-hours: state.ts isShared). Local changes go into the step's
// changelog entry; shared ones are written to Redis before it, as they are idempotent.
import type { Decision } from './attribution.js';
import type { Emission, Offer } from './pairing.js';
import { pairKeys, pairOffers, type ClickIndex, type PairHash, type PairView } from './pairing-local.js';
import type { Needs } from './process-batch.js';
import { isShared, readFlags, readTouches, touchAppend, type Snapshot, type StateWrite, type Touch } from './state.js';
import type { SourceKind } from './store/changelog.js';
import type { StepView } from './store/partition.js';

/** What processBatch and processConfirmations ask of a step's state. */
export interface StepState {
  /** The last source offset decided: a record at or before it is a redelivery. */
  decidedThrough(kind: SourceKind): number;
  /** A redelivered record's event: its stored decision, or null when it was a duplicate. */
  known(kind: SourceKind, offset: number, index: number): Decision | null;
  /** Claims `id` unless claimed (exactly, for the dedup window); false for a duplicate. */
  claimIfNew(id: string): boolean;
  duplicate(offset: number, index: number): void;
  decided(offset: number, index: number, d: Decision): void;
  load(needs: Needs): Promise<Snapshot>;
  /** The writes of the step's new events: the user's into the entry, the shared ones to Redis now. */
  apply(writes: StateWrite[]): Promise<void>;
  /** Offers each side to the pairing, in order (pairing-local.ts). */
  pair(offers: Offer[]): Emission[];
}

export interface SharedState {
  load(needs: Needs): Promise<Snapshot>;
  apply(writes: StateWrite[]): Promise<void>;
}

export function createStepState(view: StepView, shared: SharedState, config: { clickTtlMs: number }): StepState {
  return {
    decidedThrough: view.decidedThrough,
    known: view.known,
    claimIfNew: view.claimIfNew,
    duplicate: view.duplicate,
    decided: view.decided,

    async load(needs: Needs): Promise<Snapshot> {
      const local = needs.touches.filter((k) => !isShared(k));
      const snapshot = await shared.load({ ...needs, touches: needs.touches.filter(isShared), flags: [] });
      for (const key of local) snapshot.touches.set(key, readTouches(view.get(key) ?? ''));
      for (const key of needs.flags) snapshot.flags.set(key, readFlags(view.get(key)));
      return snapshot;
    },

    async apply(writes: StateWrite[]): Promise<void> {
      const touches = new Map<string, { ttlMs: number; touches: Touch[] }>();
      const flags = new Map<string, { ttlMs: number; reasons: Set<string> }>();
      const sharedWrites: StateWrite[] = [];
      for (const w of writes) {
        if (isShared(w.key)) sharedWrites.push(w);
        else if (w.op === 'touch') {
          const list = touches.get(w.key) ?? touches.set(w.key, { ttlMs: w.ttlMs, touches: [] }).get(w.key)!;
          list.touches.push(w.touch);
        } else if (w.op === 'flag') {
          const set = flags.get(w.key) ?? flags.set(w.key, { ttlMs: w.ttlMs, reasons: new Set() }).get(w.key)!;
          set.reasons.add(w.reason);
        }
      }
      for (const [key, { ttlMs, touches: list }] of touches)
        view.change({ op: 'touch', key, expiresAt: view.at + ttlMs, ...touchAppend(list, ttlMs) });
      for (const [key, { ttlMs, reasons }] of flags) {
        const held = readFlags(view.get(key));
        const added = [...reasons].filter((r) => !held.has(r));
        // A flagged person stays flagged FLAGS_TTL_MS from their last invalid event.
        view.change({
          op: 'put',
          key,
          expiresAt: view.at + ttlMs,
          value: (view.get(key) ?? '') + added.map((r) => `${r} `).join(''),
        });
      }
      if (sharedWrites.length > 0) await shared.apply(sharedWrites);
    },

    pair: (offers) => pairOffers(pairView(view), offers, config),
  };
}

/** The pairing's hashes as values of the step's view, each with the expiry it has reached (lifetimes only grow). */
function pairView(view: StepView): PairView {
  // Each hash read once per step: a side is read, then written back with the expiry it had.
  const parsed = new Map<string, StoredHash | undefined>();
  const read = (key: string) => {
    if (!parsed.has(key)) {
      const v = view.get(key);
      parsed.set(key, v === undefined ? undefined : decodeHash(v));
    }
    return parsed.get(key);
  };
  const write = (key: string, h: Hash, ttlMs: number) => {
    const x = Math.max(view.at + ttlMs, read(key)?.x ?? 0);
    view.change({ op: 'put', key, expiresAt: x, value: encodeHash(h, x) });
    parsed.set(key, { h: { ...h }, x }); // flat: its fields are strings
  };
  return {
    event: (app, user, id) => read(pairKeys.event(app, user, id))?.h,
    click: (app, user, id) => read(pairKeys.click(app, user, id))?.h,
    setEvent: (app, user, id, hash, ttlMs) => write(pairKeys.event(app, user, id), hash, ttlMs),
    setClick: (app, user, id, index, ttlMs) => write(pairKeys.click(app, user, id), index, ttlMs),
  };
}

/** The fields of an event's hash and of a click's index (pairing-local.ts), each a string or absent. */
type Hash = PairHash & ClickIndex;
interface StoredHash {
  h: Hash;
  x: number;
}
const SLOTS = ['e', 'ep', 'k', 'kp', 'done'] as const;

/**
 * A hash as stored: `<expiry>;<each slot's length, -1 when absent>,...;<the slots back to back>`. The
 * sides are JSON already (matching.ts) and an id is free text: lengths carry them as they are, where a
 * JSON object would escape every quote of theirs. A hash stored before is JSON `{"h":…,"x":…}`.
 */
export function encodeHash(h: Hash, x: number): string {
  let lengths = '';
  let body = '';
  for (const slot of SLOTS) {
    const v = h[slot];
    lengths += `${v === undefined ? -1 : v.length},`;
    if (v !== undefined) body += v;
  }
  return `${x};${lengths};${body}`;
}

export function decodeHash(value: string): StoredHash {
  if (value.startsWith('{')) return JSON.parse(value) as StoredHash;
  const a = value.indexOf(';');
  const b = value.indexOf(';', a + 1);
  const lengths = value.slice(a + 1, b).split(',');
  const h: Hash = {};
  let at = b + 1;
  for (let i = 0; i < SLOTS.length; i++) {
    const n = lengths[i] ? Number(lengths[i]) : -1; // no length: a slot added after the value was written
    if (!(n >= 0)) continue;
    h[SLOTS[i]!] = value.slice(at, at + n);
    at += n;
  }
  return { h, x: Number(value.slice(0, a)) };
}
