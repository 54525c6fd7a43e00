// The attribution state's layout, shared by the rules (attribution.ts) and the Redis adapter.
// Keys (under the configured prefix), each expiring with its window:
//   t:c:<app>:<user>:<campaign>    sorted set of the user's clicks, score = event time
//   t:v:<app>:<user>:<campaign>    sorted set of the user's impressions and viewables
//   t:d:<app>:<device>:<campaign>  sorted set of the device's clicks (device-matched attribution)
// Each touch set keeps its newest TOUCHES_KEPT members (and none older than its window), so the
// cost of reading one stays bounded however much a user sees.
//   k:<app>:<click event_id>       the click itself, for conversions that name it by click_id
//   f:<app>:<device>:<hour>        set of the device's first click ids in that hour (click flooding),
//                                  at most the hourly limit: past it, every new click is flagged anyway,
//                                  and a flooding device must not make each load of its set bigger
// A touch is stored as the member JSON [type, event_id, creative_id, user_id, flag] (ids are free
// text, so no separator character is safe).
import type { EventType } from '../schemas/beacon-json.js';

export interface Touch { id: string; type: EventType; time: number; creativeId: string; userId: string; flag: string }

export type StateWrite =
  | { op: 'touch'; key: string; ttlMs: number; touch: Touch }
  | { op: 'click'; key: string; ttlMs: number; touch: Touch }
  | { op: 'flood'; key: string; ttlMs: number; id: string; limit: number };

/** What a batch needs to know before it is decided: touches by key, named clicks, each device-hour's click ids, and the events' claims. */
export interface Snapshot {
  touches: Map<string, Touch[]>;
  clicks: Map<string, Touch>;
  flood: Map<string, Set<string>>;
  /** Claim values by event id, for events already claimed when the batch was loaded. */
  claims: Map<string, string>;
}

export const HOUR_MS = 3_600_000;
export const TOUCHES_KEPT = 32;

export function stateKeys(e: { appId: string; userId: string; deviceId: string; campaignId: string; id: string; clickId: string; time: number }) {
  return {
    clicks: `t:c:${e.appId}:${e.userId}:${e.campaignId}`,
    views: `t:v:${e.appId}:${e.userId}:${e.campaignId}`,
    device: `t:d:${e.appId}:${e.deviceId}:${e.campaignId}`,
    ownClick: `k:${e.appId}:${e.id}`,
    namedClick: `k:${e.appId}:${e.clickId}`,
    flood: `f:${e.appId}:${e.deviceId}:${Math.floor(e.time / HOUR_MS)}`,
  };
}

export const encodeTouch = (t: Touch) => JSON.stringify([t.type, t.id, t.creativeId, t.userId, t.flag]);

export function decodeTouch(member: string, time: number): Touch {
  const [type, id, creativeId, userId, flag] = JSON.parse(member) as [EventType, string, string, string, string];
  return { type, id, creativeId, userId, flag, time };
}
