// The attribution state's layout, shared by the rules (attribution.ts), the partition's local store
// (store/partition.ts) and Redis (state-redis.ts). Keys, each expiring with its window; the user's
// own (l:c:, l:v:, u:) live with the user's partition, the device's and the clicks' (l:d:, k:, f:) in
// Redis, because another user's events read them (isShared):
//   l:c:<app>:<user>:<campaign>    touch list of the user's clicks
//   l:v:<app>:<user>:<campaign>    touch list of the user's impressions and viewables
//   l:d:<app>:<device>:<campaign>  touch list of the device's clicks (device-matched attribution)
//   k:<app>:<click event_id>       the click itself (one touch line), for conversions that name it by click_id
//   f:<app>:<device>:<hour>        set of the device's first click ids in that hour (click flooding),
//                                  at most the hourly limit: past it, every new click is flagged anyway,
//                                  and a flooding device must not make each load of its set bigger
//   u:<app>:<user>                 the person's flags: the invalid reasons of their events so far,
//                                  each once, space-terminated ("click_injection bot_user_agent ");
//                                  an earning carries them (VerifiedEarning.user_flags), FLAGS_TTL_MS
// A touch list is a string of touch lines, appended to as touches arrive and cut back to its newest
// TOUCHES_KEPT distinct lines (none older than its window) once it outgrows twice that: reading one
// is a single string, whatever the user has seen. A line is `<time> <received_at> <json>\n`, the JSON
// being [type, event_id, creative_id, user_id, flag] (ids are free text, so no separator inside is
// safe; JSON never holds a raw newline). A touch is decoded only when more than its times are read:
// most of a list is passed over by time alone. A line written before received_at (the collector's
// clock) was added is `<time> <json>\n`: that touch counts as received at its device time.
import type { EventType } from '../schemas/beacon-json.js';

/** `time`: device clock (skew-corrected), for ordering; `receivedAt`: the collector's clock. */
export interface Touch {
  id: string;
  type: EventType;
  time: number;
  receivedAt: number;
  creativeId: string;
  userId: string;
  flag: string;
}

export type StateWrite =
  | { op: 'touch'; key: string; ttlMs: number; touch: Touch }
  | { op: 'click'; key: string; ttlMs: number; touch: Touch }
  | { op: 'flood'; key: string; ttlMs: number; id: string; limit: number }
  | { op: 'flag'; key: string; ttlMs: number; reason: string };

/** What a batch needs to know before it is decided: touches by key, named clicks, each device-hour's click ids. */
export interface Snapshot {
  touches: Map<string, Touch[]>;
  clicks: Map<string, Touch>;
  flood: Map<string, Set<string>>;
  /** Each person's flags (invalid reasons so far) by key. */
  flags: Map<string, Set<string>>;
}

/** Keys other users' events read (a device's clicks, a named click, a device-hour): kept in Redis. */
export const isShared = (key: string) => key.startsWith('l:d:') || key.startsWith('k:') || key.startsWith('f:');

export const HOUR_MS = 3_600_000;
export const TOUCHES_KEPT = 32;
/**
 * How long a person stays flagged after their last invalid event: the payouts' fraud lookback by
 * default (PAYOUTS_FRAUD_LOOKBACK_DAYS, 7), and the claims' lifetime (a key per flagged person costs
 * no more than the claims of their events).
 */
export const FLAGS_TTL_MS = 7 * 86_400_000;

type KeyedEvent = {
  appId: string;
  userId: string;
  deviceId: string;
  campaignId: string;
  id: string;
  clickId: string;
  time: number;
};
/** Each key of an event's state (layout above), made only when asked for: most events need two. */
export const stateKey = {
  clicks: (e: KeyedEvent) => `l:c:${e.appId}:${e.userId}:${e.campaignId}`,
  views: (e: KeyedEvent) => `l:v:${e.appId}:${e.userId}:${e.campaignId}`,
  device: (e: KeyedEvent) => `l:d:${e.appId}:${e.deviceId}:${e.campaignId}`,
  ownClick: (e: KeyedEvent) => `k:${e.appId}:${e.id}`,
  namedClick: (e: KeyedEvent) => `k:${e.appId}:${e.clickId}`,
  flood: (e: KeyedEvent) => `f:${e.appId}:${e.deviceId}:${Math.floor(e.time / HOUR_MS)}`,
  flags: (e: KeyedEvent) => `u:${e.appId}:${e.userId}`,
};

// eslint-disable-next-line no-control-regex -- the characters JSON escapes: a string without them is its own JSON body
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;
/** A touch as a line of a touch list (layout above). Most ids need no JSON escape: then one string is built, not five. */
export function touchLine(t: Touch): string {
  const { id, creativeId, userId, flag } = t;
  return PLAIN.test(id) && PLAIN.test(creativeId) && PLAIN.test(userId) && PLAIN.test(flag)
    ? `${t.time} ${t.receivedAt} [${t.type},"${id}","${creativeId}","${userId}","${flag}"]\n`
    : `${t.time} ${t.receivedAt} [${t.type},${JSON.stringify(id)},${JSON.stringify(creativeId)},${JSON.stringify(userId)},${JSON.stringify(flag)}]\n`;
}

/** A touch read back: its times at once, the rest from its JSON when first asked for. */
class StoredTouch implements Touch {
  private fields?: [EventType, string, string, string, string];
  constructor(
    readonly time: number,
    readonly receivedAt: number,
    private readonly json: string,
  ) {}
  private get f() {
    return (this.fields ??= JSON.parse(this.json) as [EventType, string, string, string, string]);
  }
  get type() {
    return this.f[0];
  }
  get id() {
    return this.f[1];
  }
  get creativeId() {
    return this.f[2];
  }
  get userId() {
    return this.f[3];
  }
  get flag() {
    return this.f[4];
  }
}

/**
 * A touch list with `lines` appended; once longer than `cutAt`, cut back to its newest TOUCHES_KEPT
 * distinct lines none older than `oldest`, oldest first. Deterministic: a changelog replay gives the
 * value the step computed.
 */
export function appendTouches(list: string, lines: string, oldest: number, cutAt: number): string {
  const next = list + lines;
  if (next.length <= cutAt) return next;
  const kept = new Map<string, number>();
  for (const line of next.split('\n')) {
    const time = Number(line.slice(0, line.indexOf(' ')));
    if (line && time >= oldest) kept.set(line, time);
  }
  const newest = [...kept].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? 1 : -1)).slice(0, TOUCHES_KEPT);
  return newest
    .reverse()
    .map(([line]) => `${line}\n`)
    .join('');
}

/** The arguments of a touch append (apply.lua and appendTouches): oldest time kept and the length to cut at. */
export function touchAppend(touches: Touch[], ttlMs: number): { lines: string; oldest: number; cutAt: number } {
  let lines = '';
  let newest = -Infinity;
  let longest = 0;
  for (const t of touches) {
    const line = touchLine(t);
    lines += line;
    newest = Math.max(newest, t.time);
    longest = Math.max(longest, line.length);
  }
  // Cut back once the list holds about twice the lines kept (judged by these lines' length).
  return { lines, oldest: newest - ttlMs, cutAt: 2 * TOUCHES_KEPT * longest };
}

/** A person's flags as stored ("a b "). */
export const readFlags = (value: string | null | undefined) => new Set((value ?? '').split(' ').filter(Boolean));

/** The touches of a string of touch lines. */
export function readTouches(lines: string): Touch[] {
  const touches: Touch[] = [];
  for (let at = 0; at < lines.length;) {
    const space = lines.indexOf(' ', at);
    const end = lines.indexOf('\n', space);
    if (space < 0 || end < 0) break; // every line ends in a newline: nothing else is written
    const time = Number(lines.slice(at, space));
    // A line of the older layout has its JSON right after the time (layout above).
    const second = lines.charCodeAt(space + 1) === 0x5b /* [ */ ? space : lines.indexOf(' ', space + 1);
    const receivedAt = second === space ? time : Number(lines.slice(space + 1, second));
    touches.push(new StoredTouch(time, receivedAt, lines.slice(second + 1, end)));
    at = end + 1;
  }
  return touches;
}
