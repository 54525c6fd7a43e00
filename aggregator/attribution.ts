// The attribution rules, pure: for each event of a batch, in delivery order, its invalid-traffic
// reason, what it is attributed to and whether it may earn (once a trusted server confirms it:
// pairing.ts), from the state loaded before the batch plus the batch's own earlier events; and the
// state writes it implies.
import { EventType } from '../schemas/beacon-json.js';
import { FLAGS_TTL_MS, HOUR_MS, stateKey as key, type Snapshot, type StateWrite, type Touch } from './state.js';

export interface CampaignSettings {
  clickLookbackMs: number;
  viewWindowMs: number;
  completionWindowMs: number;
  minClickToConversionMs: number;
  /** How long a rewardable event and its confirmation may be received apart (server clock). */
  verificationWindowMs: number;
  /** The app that owns the campaign; null: nobody yet (rewards refuses its earnings). */
  appId: string | null;
}
export const defaultCampaign: CampaignSettings = {
  clickLookbackMs: 7 * 86_400_000,
  viewWindowMs: 86_400_000,
  completionWindowMs: 1_800_000,
  minClickToConversionMs: 10_000,
  verificationWindowMs: 3_600_000,
  appId: null,
};

export interface AttributionEvent {
  id: string;
  type: EventType;
  /** Device clock, skew-corrected: orders touches. */
  time: number;
  /** The collector's clock: a touch received after the event never caused it. */
  receivedAt: number;
  appId: string;
  userId: string;
  deviceId: string;
  campaignId: string;
  creativeId: string;
  clickId: string;
  /** General invalid traffic flagged by the collector ('' when valid). */
  givt: string;
}

export interface Attribution {
  to: string;
  model: 'click' | 'view';
  lagMs: number;
  /** Model click: the click was another user's (matched by device), so a postback naming it is not this event's (pairing.ts). */
  otherUser?: true;
}
export interface Decision {
  invalidReason: string;
  attribution?: Attribution;
  /** Valid and attributed: a rewardable event that earns once confirmed (pairing.ts). */
  earns: boolean;
  /** An event that earns: its person's flags from their events before it (state.ts `u:`), sorted; absent when none. */
  userFlags?: string[];
}

/**
 * The latest touch at or before `e.time` and not older than `windowMs`, received no later than `e`;
 * ties go to the greater id.
 */
function latest(
  touches: Iterable<Touch>,
  e: AttributionEvent,
  windowMs: number,
  accept: (t: Touch) => boolean,
): Touch | undefined {
  let best: Touch | undefined;
  const time = e.time;
  for (const t of touches) {
    if (t.time > time || t.time < time - windowMs || t.receivedAt > e.receivedAt || !accept(t)) continue;
    if (!best || t.time > best.time || (t.time === best.time && t.id > best.id)) best = t;
  }
  return best;
}

// The batch's own touches join the snapshot as they are decided, so a click earlier in the batch
// counts for a conversion later in it.
function touchesOf(snapshot: Snapshot, key: string): Touch[] {
  let list = snapshot.touches.get(key);
  if (!list) snapshot.touches.set(key, (list = []));
  return list;
}

/** A reason as a flag: one plain word (stored space-separated; rewards dead-letters anything else). */
const asFlag = (reason: string) =>
  reason
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 64);

function flagsOf(snapshot: Snapshot, key: string): Set<string> {
  let flags = snapshot.flags.get(key);
  if (!flags) snapshot.flags.set(key, (flags = new Set()));
  return flags;
}

function floodOf(snapshot: Snapshot, key: string): Set<string> {
  let seen = snapshot.flood.get(key);
  if (!seen) snapshot.flood.set(key, (seen = new Set()));
  return seen;
}

function remember(snapshot: Snapshot, writes: StateWrite[], key: string, ttlMs: number, touch: Touch): void {
  touchesOf(snapshot, key).push(touch); // a duplicate touch is harmless: `latest` picks the same one
  writes.push({ op: 'touch', key, ttlMs, touch });
}

const PLAIN: Decision = Object.freeze({ invalidReason: '', earns: false });

/**
 * `known[i]`, when given: null for a duplicate (left out: no decision of its own, no state), or the
 * decision stored for a redelivered event (kept: its click carries the flag it had then).
 */
export function decide(
  events: AttributionEvent[],
  snapshot: Snapshot,
  config: { settings(campaignId: string): CampaignSettings; maxClicksPerDeviceHour: number },
  known: readonly (Decision | null | undefined)[] = [],
): { decisions: Decision[]; writes: StateWrite[][] } {
  const decisions: Decision[] = [];
  const writes: StateWrite[][] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const stored = known[i];
    if (stored === null) {
      decisions.push({ invalidReason: '', earns: false });
      writes.push([]);
      continue;
    }
    const s = config.settings(e.campaignId);
    const keepMs = Math.max(s.clickLookbackMs, s.viewWindowMs, s.completionWindowMs);
    const w: StateWrite[] = [];
    // A campaign of another app earns this app nothing (CONTRACTS §8); one without an owner is
    // refused by rewards instead, so its analyst figures stay as they were.
    let invalidReason = e.givt || (s.appId !== null && s.appId !== e.appId ? 'campaign_not_in_app' : '');
    let attribution: Attribution | undefined;
    let earns = false;

    switch (e.type) {
      case EventType.IMPRESSION:
      case EventType.VIEWABLE:
        // Bot traffic earns no attribution: its touches are not remembered.
        if (!invalidReason)
          remember(snapshot, w, key.views(e), keepMs, {
            id: e.id,
            type: e.type,
            time: e.time,
            receivedAt: e.receivedAt,
            creativeId: e.creativeId,
            userId: e.userId,
            flag: '',
          });
        break;
      case EventType.CLICK: {
        // The device-hour's click ids, stored and of this batch; a redelivered click keeps its flag.
        const floodKey = key.flood(e);
        const flood = floodOf(snapshot, floodKey);
        if (stored) invalidReason = stored.invalidReason;
        else if (!flood.has(e.id) && flood.size >= config.maxClicksPerDeviceHour) invalidReason ||= 'click_flooding';
        flood.add(e.id);
        w.push({ op: 'flood', key: floodKey, ttlMs: 2 * HOUR_MS, id: e.id, limit: config.maxClicksPerDeviceHour });
        const touch: Touch = {
          id: e.id,
          type: e.type,
          time: e.time,
          receivedAt: e.receivedAt,
          creativeId: e.creativeId,
          userId: e.userId,
          flag: invalidReason,
        };
        const ownClick = key.ownClick(e);
        snapshot.clicks.set(ownClick, touch);
        w.push({ op: 'click', key: ownClick, ttlMs: s.clickLookbackMs, touch });
        if (!e.givt) {
          remember(snapshot, w, key.clicks(e), keepMs, touch);
          remember(snapshot, w, key.device(e), keepMs, touch);
        }
        break;
      }
      case EventType.CONVERSION: {
        let click: Touch | undefined;
        const named = e.clickId ? snapshot.clicks.get(key.namedClick(e)) : undefined;
        if (named && named.userId !== e.userId) invalidReason ||= 'click_id_other_user';
        else if (named) click = latest([named], e, s.clickLookbackMs, () => true);
        click ??= latest(
          [...touchesOf(snapshot, key.clicks(e)), ...touchesOf(snapshot, key.device(e))],
          e,
          s.clickLookbackMs,
          () => true,
        );
        if (click) {
          attribution = {
            to: click.id,
            model: 'click',
            lagMs: e.time - click.time,
            ...(click.userId !== e.userId ? { otherUser: true as const } : {}),
          };
          if (attribution.lagMs < s.minClickToConversionMs) invalidReason ||= 'click_injection';
          invalidReason ||= click.flag;
        } else {
          const view = latest(touchesOf(snapshot, key.views(e)), e, s.viewWindowMs, () => true);
          if (view) attribution = { to: view.id, model: 'view', lagMs: e.time - view.time };
        }
        earns = !!attribution && !invalidReason;
        break;
      }
      case EventType.REWARD_COMPLETE: {
        const shown = latest(
          touchesOf(snapshot, key.views(e)),
          e,
          s.completionWindowMs,
          (t) => t.type === EventType.IMPRESSION && t.creativeId === e.creativeId,
        );
        if (shown) attribution = { to: shown.id, model: 'view', lagMs: e.time - shown.time };
        earns = !!shown && !invalidReason;
        break;
      }
    }
    // An invalid event flags its person from here on; an event that earns carries the flags so far,
    // so the money path knows them however late ClickHouse gets the rows (payouts' risk check).
    let decision = stored;
    if (!decision && !invalidReason && !attribution && !earns) decision = PLAIN; // most events: shared, never changed
    if (!decision) {
      decision = { invalidReason, earns };
      if (attribution) decision.attribution = attribution;
    }
    if (earns || decision.invalidReason) {
      const flagsKey = key.flags(e);
      const flags = flagsOf(snapshot, flagsKey);
      if (!stored && earns && flags.size > 0) decision.userFlags = [...flags].sort();
      if (decision.invalidReason) {
        const reason = asFlag(decision.invalidReason);
        flags.add(reason);
        w.push({ op: 'flag', key: flagsKey, ttlMs: FLAGS_TTL_MS, reason });
      }
    }
    decisions.push(decision);
    writes.push(w);
  }
  return { decisions, writes };
}
