// Simulated traffic with its ground truth. `generate` makes, from a seed, the users of several apps
// and what each one's SDK sends, in order: impressions, viewables, clicks, rewarded completions and
// conversions with realistic click-to-conversion times, plus what real traffic also carries: SDK
// retries and replays (duplicates), declared bots, click floods, click injection, conversions that
// claim another user's click, events that arrive out of order, too-old events and bad UUIDs, and
// requests with bad or stale signatures, unknown keys, another app's key or an undecodable body.
//
// `expect` computes, from the generated traffic alone and the rules written in the issues (not the
// aggregator's or the rewards service's code), what the pipeline must end with: the rows of each
// analyst table, every attribution, every reward in fen and which users' payouts go to review.
import { isUuid, nameUuid } from '../common/name-uuid.js';
import { EventType, type BeaconEvent } from '../schemas/beacon-json.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const CHINA = 8 * HOUR;

export const BOT_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
export const APP_UA = 'DemoApp/2.4 (iOS 17.4)';

export interface Campaign {
  id: string; app: number; kind: 'video' | 'install';
  rule: { complete: number; conversion: number; dailyCap?: number; feeBps: number };
}
export type Duplicate = 'retry' | 'replay';
export interface Request { events: BeaconEvent[]; duplicate?: Duplicate }
export interface SimUser {
  id: string; app: number; device: string; linked: boolean;
  kind: 'normal' | 'late' | 'bot' | 'flooder' | 'injector' | 'claimer';
  /** Sent one after another, each once answered; claimers' only after everyone else's are processed. */
  requests: Request[];
}
export type BadKind = 'bad_signature' | 'timestamp_too_old' | 'unknown_key' | 'app_mismatch' | 'undecodable_body';
export interface BadRequest { kind: BadKind; app: number; events: BeaconEvent[] }
export interface Scenario { apps: string[]; campaigns: Campaign[]; users: SimUser[]; bad: BadRequest[]; threshold: number }

/** mulberry32: a small, seedable PRNG, so a scenario can be generated again from its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    next,
    chance: (p: number) => next() < p,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!,
  };
}

/** Whether `t` is within 2 minutes of a China midnight, where skew correction could move it to another daily-cap day. */
const nearChinaMidnight = (t: number) => {
  const into = (t + CHINA) % DAY;
  return into < 2 * MIN || into > DAY - 2 * MIN;
};

export function generate(opts: { run: string; users: number; seed: number; now: number; apps?: number }): Scenario {
  const r = prng(opts.seed);
  let made = 0;
  const uuid = () => nameUuid(`${opts.run}/${opts.seed}/${made++}`);
  const apps = Array.from({ length: opts.apps ?? 3 }, (_, i) => `${opts.run}.${['news', 'game', 'shop', 'video', 'music'][i % 5]}${i >= 5 ? i : ''}`);
  const campaigns: Campaign[] = apps.flatMap((_, app) => [
    { id: `${opts.run}-c${app}-video`, app, kind: 'video' as const, rule: { complete: 25, conversion: 0, dailyCap: 100, feeBps: 0 } },
    { id: `${opts.run}-c${app}-install`, app, kind: 'install' as const, rule: { complete: 10, conversion: 150, feeBps: 1000 } },
  ]);
  const now = opts.now;
  const latestAt = now - 5_000;
  const creatives = (c: Campaign) => [0, 1, 2].map((i) => `${c.id}-cr${i}`);
  const placements = ['feed-top', 'feed-inline', 'interstitial', 'rewarded-slot', 'banner'];

  const users: SimUser[] = [];
  const clicksByApp = new Map<number, { id: string; time: number }[]>();
  for (let i = 0; i < opts.users; i++) {
    const app = i % apps.length;
    const roll = r.next();
    const kind: SimUser['kind'] = roll < 0.03 ? 'bot' : roll < 0.05 ? 'flooder' : roll < 0.07 ? 'injector' : roll < 0.09 ? 'late' : roll < 0.1 ? 'claimer' : 'normal';
    const id = `${opts.run}-u${String(i).padStart(5, '0')}`;
    const device = `${opts.run}-d${String(i).padStart(5, '0')}`;
    const events: BeaconEvent[] = [];
    const ev = (type: EventType, at: number, c: Campaign, creative: string, extra: Partial<BeaconEvent> = {}) => {
      const e: BeaconEvent = {
        eventId: uuid(), type, occurredAt: Math.round(at), userId: id, deviceId: device, campaignId: c.id, creativeId: creative,
        placementId: c.kind === 'video' ? 'rewarded-slot' : r.pick(placements), ...extra,
      };
      events.push(e);
      return e;
    };
    const [video, install] = campaigns.filter((c) => c.app === app) as [Campaign, Campaign];
    const fraudFirst: BeaconEvent[] = [];

    if (kind === 'flooder') {
      // 25 clicks from one device within one clock hour: the 21st and later are flooding.
      const hour = Math.floor((now - r.int(3, 30) * HOUR) / HOUR) * HOUR;
      let last = 0;
      for (let k = 0; k < 25; k++) last = ev(EventType.CLICK, hour + 10 * MIN + k * MIN, install, r.pick(creatives(install))).occurredAt as number;
      ev(EventType.CONVERSION, last + 5 * MIN, install, creatives(install)[0]!, { valueMicros: 4_990_000, currency: 'CNY' });
      fraudFirst.push(...events.splice(0));
    } else if (kind === 'injector') {
      // A conversion 3 s after its click: click injection.
      const t = now - r.int(2, 30) * HOUR;
      const cr = r.pick(creatives(install));
      ev(EventType.IMPRESSION, t, install, cr);
      const click = ev(EventType.CLICK, t + 4_000, install, cr);
      ev(EventType.CONVERSION, t + 7_000, install, cr, { clickId: click.eventId, valueMicros: 12_000_000, currency: 'CNY' });
      fraudFirst.push(...events.splice(0));
    }

    if (kind === 'claimer') {
      // Sees an ad, then converts naming a click another user of the app made: sent after the rest.
      const t = now - r.int(30, 90) * MIN;
      ev(EventType.IMPRESSION, t, install, r.pick(creatives(install)));
      const victims = (clicksByApp.get(app) ?? []).filter((c) => c.time < t);
      if (victims.length) ev(EventType.CONVERSION, t + 20 * MIN, install, r.pick(creatives(install)), { clickId: r.pick(victims).id, valueMicros: 1_000_000, currency: 'CNY' });
    } else {
      let t = now - r.int(60, 40 * 60) * MIN;
      const sessions = r.int(1, 7);
      for (let s = 0; s < sessions && t < latestAt - 10 * MIN; s++) {
        const c = r.chance(0.6) ? video : install;
        const cr = r.pick(creatives(c));
        ev(EventType.IMPRESSION, t, c, cr);
        if (r.chance(0.7)) ev(EventType.VIEWABLE, t + 1_500, c, cr);
        if (c.kind === 'video' && r.chance(0.75) && !nearChinaMidnight(t + 40_000)) ev(EventType.REWARD_COMPLETE, t + r.int(20, 60) * 1000, c, cr);
        if (r.chance(c.kind === 'install' ? 0.3 : 0.05)) {
          const click = ev(EventType.CLICK, t + r.int(3, 15) * 1000, c, cr);
          if (kind !== 'bot') (clicksByApp.get(app) ?? clicksByApp.set(app, []).get(app)!).push({ id: click.eventId!, time: click.occurredAt as number });
          // Click-to-conversion: mostly minutes to hours, a long tail over days, never under a minute.
          const lag = Math.max(MIN, Math.round(-Math.log(1 - r.next()) * 45 * MIN));
          const at = (click.occurredAt as number) + lag;
          if (r.chance(0.4) && at < latestAt && !nearChinaMidnight(at)) {
            ev(EventType.CONVERSION, at, c, cr, { valueMicros: r.int(1, 200) * 1_000_000, currency: 'CNY', ...(r.chance(0.5) ? { clickId: click.eventId } : {}) });
          }
        } else if (c.kind === 'install' && r.chance(0.08)) {
          const at = t + r.int(5, 20 * 60) * MIN;
          if (at < latestAt && !nearChinaMidnight(at)) ev(EventType.CONVERSION, at, c, cr, { valueMicros: r.int(1, 50) * 1_000_000, currency: 'CNY' });
        }
        if (r.chance(0.05)) ev(EventType.REWARD_COMPLETE, t + 90_000, video, `${video.id}-never-shown`); // a completion with no impression
        t += r.int(3, 90) * MIN;
      }
    }

    events.sort((a, b) => (a.occurredAt as number) - (b.occurredAt as number));
    const ordered = [...fraudFirst, ...events];
    const requests: Request[] = [];
    for (let at = 0; at < ordered.length;) {
      const size = r.int(1, 12);
      const duplicate = r.chance(0.05) ? 'retry' : r.chance(0.03) ? 'replay' : undefined;
      requests.push({ events: ordered.slice(at, at + size), ...(duplicate ? { duplicate } : {}) });
      at += size;
    }
    // An SDK that flushes an old offline queue late: its requests arrive out of order.
    if (kind === 'late' && requests.length > 1) requests.reverse();
    // A few events the collector must reject one by one, beside valid ones.
    if (r.chance(0.02) && requests[0]) requests[0].events.push({ ...requests[0].events[0]!, eventId: uuid(), occurredAt: now - 8 * DAY });
    if (r.chance(0.02) && requests[0]) requests[0].events.push({ ...requests[0].events[0]!, eventId: 'not-a-uuid' });
    users.push({ id, app, device, kind, linked: kind !== 'bot' && r.chance(0.7), requests });
  }

  const bad: BadRequest[] = [];
  const kinds: BadKind[] = ['bad_signature', 'timestamp_too_old', 'unknown_key', 'app_mismatch', 'undecodable_body'];
  for (let i = 0; i < Math.max(5, Math.round(opts.users / 40)); i++) {
    const user = r.pick(users);
    bad.push({ kind: kinds[i % kinds.length]!, app: user.app, events: user.requests[0]?.events.slice(0, 3) ?? [] });
  }
  return { apps, campaigns, users, bad, threshold: 100 };
}

/** Adds `n` to `rec[key]`. */
export const add = (rec: Record<string, number>, key: string, n = 1) => void (rec[key] = (rec[key] ?? 0) + n);

export interface Expected {
  /** Events the collector answers 202 for, duplicates included. */
  accepted: number;
  rejectedEvents: Record<string, number>;
  rejectedRequests: Record<string, number>;
  /** ads.events rows by `${type}/${invalid_reason}`. */
  rows: Record<string, number>;
  /** ads.attributions: source event id -> attribution. */
  attributions: Map<string, { to: string; model: 'click' | 'view'; lagMs: number; invalid: string }>;
  /** ads.campaign_hourly summed over hours, by campaign. */
  campaigns: Map<string, { impressions: number; viewables: number; clicks: number; completions: number; conversions: number; revenue_micros: number; users: number }>;
  /** Earnings by outcome: posted, or the refusal reason. */
  earnings: Record<string, number>;
  /** Fen credited to each user. */
  rewards: Map<string, number>;
  /** Users with invalid traffic: their payouts wait for review. */
  flagged: Set<string>;
}

/** What the collector rejects an event for, as its per-event reason starts. */
function eventProblem(e: BeaconEvent, now: number): string | undefined {
  if (!isUuid(e.eventId ?? '')) return 'event_id';
  if ((e.occurredAt as number) < now - 7 * DAY) return 'occurred_at';
  return undefined;
}

export function expect(s: Scenario, opts: { now: number; maxClicksPerDeviceHour?: number }): Expected {
  const maxClicks = opts.maxClicksPerDeviceHour ?? 20;
  const out: Expected = {
    accepted: 0, rejectedEvents: {}, rejectedRequests: {}, rows: {}, attributions: new Map(), campaigns: new Map(),
    earnings: {}, rewards: new Map(), flagged: new Set(),
  };
  for (const b of s.bad) add(out.rejectedRequests, b.kind);
  const campaign = new Map(s.campaigns.map((c) => [c.id, c]));
  const seen = new Set<string>();
  const clicks = new Map<string, { user: string; time: number; flag: string }>(); // every click, by app/id
  const flood = new Map<string, number>();
  const userSets = new Map<string, Set<string>>();
  const capUsed = new Map<string, number>();

  const ordered = [...s.users.filter((u) => u.kind !== 'claimer'), ...s.users.filter((u) => u.kind === 'claimer')];
  for (const u of ordered) {
    const givt = u.kind === 'bot' ? 'declared_bot' : '';
    const touches: { id: string; type: EventType; time: number; campaign: string; creative: string; flag: string; click: boolean }[] = [];
    for (const req of u.requests) {
      const copies = req.duplicate ? 2 : 1;
      for (const e of req.events) {
        const problem = eventProblem(e, opts.now);
        if (problem) {
          add(out.rejectedEvents, problem, copies);
          continue;
        }
        out.accepted += copies;
        if (seen.has(e.eventId!)) continue;
        seen.add(e.eventId!);
        const time = e.occurredAt as number;
        const c = campaign.get(e.campaignId!)!;
        let invalid = givt;
        let attribution: { to: string; model: 'click' | 'view'; lagMs: number } | undefined;
        const latest = (accept: (t: (typeof touches)[number]) => boolean, windowMs: number) =>
          touches.filter((t) => t.campaign === c.id && t.time <= time && t.time >= time - windowMs && accept(t)).sort((a, b) => b.time - a.time)[0];

        if (e.type === EventType.IMPRESSION || e.type === EventType.VIEWABLE) {
          if (!invalid) touches.push({ id: e.eventId!, type: e.type, time, campaign: c.id, creative: e.creativeId!, flag: '', click: false });
        } else if (e.type === EventType.CLICK) {
          const bucket = `${u.device}/${Math.floor(time / HOUR)}`;
          const before = flood.get(bucket) ?? 0;
          flood.set(bucket, before + 1);
          if (before >= maxClicks) invalid ||= 'click_flooding';
          clicks.set(`${u.app}/${e.eventId}`, { user: u.id, time, flag: invalid });
          if (!givt) touches.push({ id: e.eventId!, type: e.type, time, campaign: c.id, creative: e.creativeId!, flag: invalid, click: true });
        } else if (e.type === EventType.CONVERSION) {
          const named = e.clickId ? clicks.get(`${u.app}/${e.clickId}`) : undefined;
          let click: { id: string; time: number; flag: string } | undefined;
          if (named && named.user !== u.id) invalid ||= 'click_id_other_user';
          else if (named && named.time <= time && named.time >= time - 7 * DAY) click = { id: e.clickId!, ...named };
          click ??= latest((t) => t.click, 7 * DAY);
          if (click) {
            attribution = { to: click.id, model: 'click', lagMs: time - click.time };
            if (attribution.lagMs < 10_000) invalid ||= 'click_injection';
            invalid ||= click.flag;
          } else {
            const view = latest((t) => !t.click, DAY);
            if (view) attribution = { to: view.id, model: 'view', lagMs: time - view.time };
          }
        } else if (e.type === EventType.REWARD_COMPLETE) {
          const shown = latest((t) => t.type === EventType.IMPRESSION && t.creative === e.creativeId, 30 * MIN);
          if (shown) attribution = { to: shown.id, model: 'view', lagMs: time - shown.time };
        }

        const type = EventType[e.type!] as 'IMPRESSION' | 'VIEWABLE' | 'CLICK' | 'REWARD_COMPLETE' | 'CONVERSION';
        add(out.rows, `${type}/${invalid}`);
        if (invalid) out.flagged.add(u.id);
        if (attribution) out.attributions.set(e.eventId!, { ...attribution, invalid });
        if (!invalid) {
          const totals = out.campaigns.get(c.id) ?? { impressions: 0, viewables: 0, clicks: 0, completions: 0, conversions: 0, revenue_micros: 0, users: 0 };
          const column = ({ IMPRESSION: 'impressions', VIEWABLE: 'viewables', CLICK: 'clicks', REWARD_COMPLETE: 'completions', CONVERSION: 'conversions' } as const)[type];
          totals[column]++;
          if (e.type === EventType.CONVERSION) totals.revenue_micros += Number(e.valueMicros ?? 0);
          const users = userSets.get(c.id) ?? userSets.set(c.id, new Set()).get(c.id)!;
          users.add(u.id);
          totals.users = users.size;
          out.campaigns.set(c.id, totals);
        }
        // A verified earning: attributed and valid; the campaign's rule prices it, within the daily cap.
        if (attribution && !invalid && (e.type === EventType.CONVERSION || e.type === EventType.REWARD_COMPLETE)) {
          const amount = e.type === EventType.CONVERSION ? c.rule.conversion : c.rule.complete;
          const capKey = `${u.id}/${c.id}/${Math.floor((time + CHINA) / DAY)}`;
          const used = capUsed.get(capKey) ?? 0;
          if (amount === 0) add(out.earnings, 'no_reward');
          else if (c.rule.dailyCap !== undefined && used + amount > c.rule.dailyCap) add(out.earnings, 'daily_cap');
          else {
            add(out.earnings, 'posted');
            capUsed.set(capKey, used + amount);
            out.rewards.set(u.id, (out.rewards.get(u.id) ?? 0) + amount);
          }
        }
      }
    }
  }
  return out;
}
