// The pairing of rewardable events and confirmations (README "The join"), over the hashes of one
// state partition: the rules lua/pair.lua ran in Redis, now a pure function the step runs under its
// partition's lock, so offers apply one after another exactly as the script's did.
import type { Emission, Offer } from './pairing.js';

/** An event's hash: its side and position (e, ep), the first confirmation's (k, kp), the record that completed the pair (done). */
export interface PairHash {
  e?: string;
  ep?: string;
  k?: string;
  kp?: string;
  done?: string;
}
/** A click's index: the first conversion of its own user on it (e, an event id), and a confirmation parked before it (k, kp). */
export interface ClickIndex {
  e?: string;
  k?: string;
  kp?: string;
}

/** The partition's hashes as the pairing reads and writes them; a set replaces the hash and keeps the longer lifetime. */
export interface PairView {
  event(app: string, user: string, eventId: string): PairHash | undefined;
  click(app: string, user: string, clickId: string): ClickIndex | undefined;
  setEvent(app: string, user: string, eventId: string, hash: PairHash, ttlMs: number): void;
  setClick(app: string, user: string, clickId: string, index: ClickIndex, ttlMs: number): void;
}

/**
 * The store keys, by app and user: an event's user is its own, a confirmation's the one it names (its
 * partition's), so one naming another user's event or click never meets it. App ids have no ':'; a
 * user id may have any, so it is a JSON string (it ends at its first unescaped '"'); the id comes last.
 */
export const pairKeys = {
  event: (app: string, user: string, id: string) => `v:e:${app}:${JSON.stringify(user)}:${id}`,
  click: (app: string, user: string, id: string) => `v:click:${app}:${JSON.stringify(user)}:${id}`,
};

/**
 * Offers each side in order (a later offer sees the earlier ones' writes) and returns the emissions,
 * each with its offer's index. Each side is set once; the record that completes a pair sets `done` to
 * its position and is the only one to emit the pair again (its redelivery); another confirmation of
 * the event is 'second', with no event payload, so every emission of it is the same row. A
 * confirmation naming a click no conversion has registered yet is parked on the click's index and
 * handed over by the conversion's record. A click index lives at least `clickTtlMs` (the claims').
 */
export function pairOffers(view: PairView, offers: Offer[], config: { clickTtlMs: number }): Emission[] {
  const out: Emission[] = [];
  const clickTtl = (ttlMs: number) => Math.max(config.clickTtlMs, ttlMs);

  // The side `owner` offered is in: completes the pair, or re-emits it for the record that did.
  const decide = (i: number, h: PairHash, owner: string) => {
    if (h.done === owner || (h.done === undefined && h.e !== undefined && h.k !== undefined)) {
      h.done = owner;
      out.push({ offer: i, kind: 'pair', e: h.e!, k: h.k! });
    }
  };

  // A confirmation offered to an event's hash: the pair, or 'second' when another confirmation holds it.
  const confirm = (i: number, o: Offer, eventId: string) => {
    const h = { ...view.event(o.appId, o.userId, eventId) };
    if (h.k === undefined) Object.assign(h, { k: o.payload, kp: o.position });
    if (h.kp === o.position) decide(i, h, o.position);
    else out.push({ offer: i, kind: 'second', e: '', k: o.payload });
    view.setEvent(o.appId, o.userId, eventId, h, o.ttlMs);
  };

  offers.forEach((o, i) => {
    const { appId: app, userId: user } = o;
    if (o.side === 'e') {
      const h = { ...view.event(app, user, o.eventId) };
      if (h.e === undefined) Object.assign(h, { e: o.payload, ep: o.position });
      if (o.clickId !== '') {
        // The first conversion of the click's user on it takes the index; one parked there is handed to it.
        const index = { ...view.click(app, user, o.clickId) };
        index.e ??= o.eventId;
        view.setClick(app, user, o.clickId, index, clickTtl(o.ttlMs));
        if (index.e === o.eventId && index.k !== undefined) {
          if (h.k === undefined) Object.assign(h, { k: index.k, kp: index.kp });
          if (h.kp !== index.kp) out.push({ offer: i, kind: 'second', e: '', k: index.k });
        }
      }
      decide(i, h, o.position);
      view.setEvent(app, user, o.eventId, h, o.ttlMs);
    } else if (o.eventId !== '') {
      confirm(i, o, o.eventId);
    } else {
      const index = { ...view.click(app, user, o.clickId) };
      if (index.kp === o.position) {
        // Parked here before: the conversion's record hands it over and decides (or will).
      } else if (index.e !== undefined) {
        confirm(i, o, index.e);
      } else {
        if (index.k === undefined) Object.assign(index, { k: o.payload, kp: o.position });
        view.setClick(app, user, o.clickId, index, clickTtl(o.ttlMs));
        if (index.kp !== o.position) out.push({ offer: i, kind: 'second', e: '', k: o.payload });
      }
    }
  });
  return out;
}
