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
      for (const [key, { ttlMs, touches: list }] of touches) view.change({ op: 'touch', key, expiresAt: view.at + ttlMs, ...touchAppend(list, ttlMs) });
      for (const [key, { ttlMs, reasons }] of flags) {
        const held = readFlags(view.get(key));
        const added = [...reasons].filter((r) => !held.has(r));
        // A flagged person stays flagged FLAGS_TTL_MS from their last invalid event.
        view.change({ op: 'put', key, expiresAt: view.at + ttlMs, value: (view.get(key) ?? '') + added.map((r) => `${r} `).join('') });
      }
      if (sharedWrites.length > 0) await shared.apply(sharedWrites);
    },

    pair: (offers) => pairOffers(pairView(view), offers, config),
  };
}

/** The pairing's hashes as values of the step's view, each with the expiry it has reached (lifetimes only grow). */
function pairView(view: StepView): PairView {
  // Each hash parsed once per step: a side is read, then written back with the expiry it had.
  const parsed = new Map<string, { h: unknown; x: number } | undefined>();
  const read = <T>(key: string) => {
    if (!parsed.has(key)) {
      const v = view.get(key);
      parsed.set(key, v ? (JSON.parse(v) as { h: T; x: number }) : undefined);
    }
    return parsed.get(key) as { h: T; x: number } | undefined;
  };
  const write = (key: string, h: object, ttlMs: number) => {
    const x = Math.max(view.at + ttlMs, read(key)?.x ?? 0);
    view.change({ op: 'put', key, expiresAt: x, value: JSON.stringify({ h, x }) });
    parsed.set(key, { h: { ...h }, x }); // flat: its fields are strings
  };
  return {
    event: (app, user, id) => read<PairHash>(pairKeys.event(app, user, id))?.h,
    click: (app, user, id) => read<ClickIndex>(pairKeys.click(app, user, id))?.h,
    setEvent: (app, user, id, hash, ttlMs) => write(pairKeys.event(app, user, id), hash, ttlMs),
    setClick: (app, user, id, index, ttlMs) => write(pairKeys.click(app, user, id), index, ttlMs),
  };
}
