// Simulated traffic with its ground truth. `generate` makes, from a seed, the users of several apps
// and what each one's SDK sends, in order: impressions, viewables, clicks, rewarded completions and
// conversions with realistic click-to-conversion times, plus what real traffic also carries: SDK
// retries and replays (duplicates), declared bots, click floods, click injection, conversions that
// claim another user's click, events that arrive out of order, too-old events and bad UUIDs, and
// requests with bad or stale signatures, unknown keys, another app's key or an undecodable body.
// Beside each rewarded completion and conversion, what the ad network or the advertiser does (the
// ad-network simulator, stack/ad-network/): confirm it, late, several times, or never; and attackers
// with a real app key: forged events nobody confirms, another app's campaign and user, backdated
// events against a daily cap, real rewarded watches claimed by another campaign, and forged callbacks.
//
// `expect` (ground-truth.ts) computes, from the generated traffic alone and the rules written in the
// issues (not the aggregator's or the rewards service's code), what the pipeline must end with.
import { createHash } from 'node:crypto';
import { nameUuid } from '../common/name-uuid.js';
import { EventType, type BeaconEvent } from '../schemas/beacon-json.js';
import { addAttackers } from './attackers.js';
import { prng, type Prng } from './prng.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

export const BOT_UA = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
export const APP_UA = 'DemoApp/2.4 (iOS 17.4)';

export interface Campaign {
  id: string;
  app: number;
  kind: 'video' | 'install';
  rule: { complete: number; conversion: number; dailyCap?: number; feeBps: number };
}
export type Duplicate = 'retry' | 'replay';
/** How the network or advertiser delivers its confirmation (stack/ad-network/deliveries.ts). */
export interface Plan {
  delayMs: number;
  copies: number;
  drop: boolean;
}
/**
 * A confirmation the simulator is asked for: an ad network's reward callback (`ssv`, by the app's
 * network, naming the event) or an advertiser's postback (naming the event or its click).
 */
export interface Confirm {
  kind: 'ssv' | 'postback';
  /** Whose network or ad unit signs (ssv). */
  app: number;
  /**
   * The campaign whose postback secret signs (postback). A network's callback (ssv) is for the campaign
   * its app's ad unit is registered with (ground-truth.ts rewardedCampaign), whatever this says.
   */
  campaign: string;
  userId: string;
  eventId?: string;
  clickId?: string;
  occurredAt: number;
  valueMicros?: number;
  currency?: string;
  plan: Plan;
}
/** Sent in order, each once answered; the confirmations are asked for just before the request is sent. */
export interface Request {
  events: BeaconEvent[];
  duplicate?: Duplicate;
  confirms?: Confirm[];
}
export type Attacker = 'forger' | 'crosser' | 'backdater' | 'swapper';
export interface SimUser {
  /** The app's user id; the person is (app, id). A crosser uses the id of another app's user. */
  id: string;
  app: number;
  device: string;
  linked: boolean;
  kind: 'normal' | 'late' | 'bot' | 'flooder' | 'injector' | 'claimer' | Attacker;
  /** Sent one after another, each once answered; claimers' only after everyone else's are processed. */
  requests: Request[];
}
export type BadKind = 'bad_signature' | 'timestamp_too_old' | 'unknown_key' | 'app_mismatch' | 'undecodable_body';
export interface BadRequest {
  kind: BadKind;
  app: number;
  events: BeaconEvent[];
}
/** A callback an attacker forges to confirm a forger's event; the collector answers 401 bad_signature. */
export type ForgedKind = 'admob_own_key' | 'network_guessed_secret' | 'postback_guessed_secret';
export interface ForgedCallback {
  kind: ForgedKind;
  app: number;
  campaign: string;
  userId: string;
  eventId: string;
}
/** Which networks confirm rewarded ads: even apps use AdMob (an ad unit each), odd ones an HMAC network. */
export type Network = 'admob' | 'pangle';
export interface Scenario {
  apps: string[];
  networks: Network[];
  adUnits: string[];
  campaigns: Campaign[];
  users: SimUser[];
  bad: BadRequest[];
  forged: ForgedCallback[];
  threshold: number;
}

/** The person key the rewards service uses: `<app_id>:<user_id>` (CONTRACTS.md §8). */
export const person = (s: Pick<Scenario, 'apps'>, u: Pick<SimUser, 'app' | 'id'>) => `${s.apps[u.app]}:${u.id}`;

/** What a person does with a transfer bill waiting for them in WeChat (payouts/README.md "The claim flow"). */
export type ClaimHabit = 'confirm' | 'ignore' | 'cancelled';
/**
 * From the person's id alone (not the scenario's random stream, which the rest of the traffic
 * follows): most confirm on WeChat's page; some never do, so WeChat closes the bill; the operator
 * cancels a few before they confirm.
 */
export function claimHabit(personKey: string): ClaimHabit {
  const x = createHash('sha256').update(personKey).digest().readUInt16BE(0) / 65_536;
  return x < 0.8 ? 'confirm' : x < 0.9 ? 'ignore' : 'cancelled';
}

/**
 * The network's or advertiser's side of an honest rewarded event: mostly confirmed (a quarter of those
 * late, up to `lateMaxMs`, some sent more than once), sometimes never.
 */
export function honestPlan(rc: Prng, lateMaxMs = 20_000): Plan {
  if (rc.chance(0.12)) return { delayMs: 0, copies: 1, drop: true };
  const late = rc.chance(0.25);
  const delayMs = Math.min(rc.int(late ? 5_000 : 0, late ? 20_000 : 2_000), lateMaxMs);
  return { delayMs, copies: rc.chance(0.08) ? rc.int(2, 3) : 1, drop: false };
}

/** What confirms `e` of `user`: the app's ad network for a completion, the campaign's advertiser for a conversion. */
export function confirmOf(e: BeaconEvent, user: { id: string; app: number }, plan: Plan, byClick = false): Confirm {
  const occurredAt = (e.occurredAt as number) + 1_000;
  if (e.type === EventType.REWARD_COMPLETE)
    return {
      kind: 'ssv',
      app: user.app,
      campaign: e.campaignId!,
      userId: user.id,
      eventId: e.eventId!,
      occurredAt,
      plan,
    };
  return {
    kind: 'postback',
    app: user.app,
    campaign: e.campaignId!,
    userId: user.id,
    ...(byClick ? { clickId: e.clickId! } : { eventId: e.eventId! }),
    occurredAt,
    ...(e.valueMicros !== undefined ? { valueMicros: Number(e.valueMicros), currency: e.currency ?? 'CNY' } : {}),
    plan,
  };
}

/** `lateMaxMs` bounds how late a network's callback comes (20 s by default; a benchmark may want less). */
export function generate(opts: {
  run: string;
  users: number;
  seed: number;
  now: number;
  apps?: number;
  lateMaxMs?: number;
}): Scenario {
  const r = prng(opts.seed);
  // The networks' and the attackers' choices come from a stream of their own, so the SDK traffic of a seed stays as it was.
  const rc = prng(opts.seed ^ 0x5eed5eed);
  let made = 0;
  const uuid = () => nameUuid(`${opts.run}/${opts.seed}/${made++}`);
  const apps = Array.from(
    { length: opts.apps ?? 3 },
    (_, i) => `${opts.run}.${['news', 'game', 'shop', 'video', 'music'][i % 5]}${i >= 5 ? i : ''}`,
  );
  const networks = apps.map((_, i): Network => (i % 2 === 0 ? 'admob' : 'pangle'));
  const adUnits = apps.map((a) => `${a}.rewarded`);
  const campaigns: Campaign[] = apps.flatMap((_, app) => [
    {
      id: `${opts.run}-c${app}-video`,
      app,
      kind: 'video' as const,
      rule: { complete: 25, conversion: 0, dailyCap: 100, feeBps: 0 },
    },
    {
      id: `${opts.run}-c${app}-install`,
      app,
      kind: 'install' as const,
      rule: { complete: 10, conversion: 150, feeBps: 1000 },
    },
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
    const kind: SimUser['kind'] =
      roll < 0.03
        ? 'bot'
        : roll < 0.05
          ? 'flooder'
          : roll < 0.07
            ? 'injector'
            : roll < 0.09
              ? 'late'
              : roll < 0.1
                ? 'claimer'
                : 'normal';
    const id = `${opts.run}-u${String(i).padStart(5, '0')}`;
    const device = `${opts.run}-d${String(i).padStart(5, '0')}`;
    const events: BeaconEvent[] = [];
    const ev = (type: EventType, at: number, c: Campaign, creative: string, extra: Partial<BeaconEvent> = {}) => {
      const e: BeaconEvent = {
        eventId: uuid(),
        type,
        occurredAt: Math.round(at),
        userId: id,
        deviceId: device,
        campaignId: c.id,
        creativeId: creative,
        placementId: c.kind === 'video' ? 'rewarded-slot' : r.pick(placements),
        ...extra,
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
      for (let k = 0; k < 25; k++)
        last = ev(EventType.CLICK, hour + 10 * MIN + k * MIN, install, r.pick(creatives(install))).occurredAt as number;
      ev(EventType.CONVERSION, last + 5 * MIN, install, creatives(install)[0]!, {
        valueMicros: 4_990_000,
        currency: 'CNY',
      });
      fraudFirst.push(...events.splice(0));
    } else if (kind === 'injector') {
      // A conversion 3 s after its click: click injection.
      const t = now - r.int(2, 30) * HOUR;
      const cr = r.pick(creatives(install));
      ev(EventType.IMPRESSION, t, install, cr);
      const click = ev(EventType.CLICK, t + 4_000, install, cr);
      ev(EventType.CONVERSION, t + 7_000, install, cr, {
        clickId: click.eventId,
        valueMicros: 12_000_000,
        currency: 'CNY',
      });
      fraudFirst.push(...events.splice(0));
    }

    if (kind === 'claimer') {
      // Sees an ad, then converts naming a click another user of the app made: sent after the rest.
      const t = now - r.int(30, 90) * MIN;
      ev(EventType.IMPRESSION, t, install, r.pick(creatives(install)));
      const victims = (clicksByApp.get(app) ?? []).filter((c) => c.time < t);
      if (victims.length)
        ev(EventType.CONVERSION, t + 20 * MIN, install, r.pick(creatives(install)), {
          clickId: r.pick(victims).id,
          valueMicros: 1_000_000,
          currency: 'CNY',
        });
    } else {
      let t = now - r.int(60, 40 * 60) * MIN;
      const sessions = r.int(1, 7);
      for (let s = 0; s < sessions && t < latestAt - 10 * MIN; s++) {
        const c = r.chance(0.6) ? video : install;
        const cr = r.pick(creatives(c));
        ev(EventType.IMPRESSION, t, c, cr);
        if (r.chance(0.7)) ev(EventType.VIEWABLE, t + 1_500, c, cr);
        if (c.kind === 'video' && r.chance(0.75)) ev(EventType.REWARD_COMPLETE, t + r.int(20, 60) * 1000, c, cr);
        if (r.chance(c.kind === 'install' ? 0.3 : 0.05)) {
          const click = ev(EventType.CLICK, t + r.int(3, 15) * 1000, c, cr);
          if (kind !== 'bot')
            (clicksByApp.get(app) ?? clicksByApp.set(app, []).get(app)!).push({
              id: click.eventId!,
              time: click.occurredAt as number,
            });
          // Click-to-conversion: mostly minutes to hours, a long tail over days, never under a minute.
          const lag = Math.max(MIN, Math.round(-Math.log(1 - r.next()) * 45 * MIN));
          const at = (click.occurredAt as number) + lag;
          if (r.chance(0.4) && at < latestAt) {
            ev(EventType.CONVERSION, at, c, cr, {
              valueMicros: r.int(1, 200) * 1_000_000,
              currency: 'CNY',
              ...(r.chance(0.5) ? { clickId: click.eventId } : {}),
            });
          }
        } else if (c.kind === 'install' && r.chance(0.08)) {
          const at = t + r.int(5, 20 * 60) * MIN;
          if (at < latestAt)
            ev(EventType.CONVERSION, at, c, cr, { valueMicros: r.int(1, 50) * 1_000_000, currency: 'CNY' });
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
    // The networks and advertisers confirm (or not) each rewarded event, with the request that carries it.
    // A postback names the click instead of the conversion only for a user's one conversion: with
    // two conversions on one click it would confirm whichever the pipeline saw first (an install
    // postback names its click; there is one install per click).
    const oneConversion = events.filter((e) => e.type === EventType.CONVERSION).length === 1;
    for (const req of requests) {
      const confirms = req.events
        .filter((e) => e.type === EventType.REWARD_COMPLETE || e.type === EventType.CONVERSION)
        .map((e) =>
          confirmOf(
            e,
            { id, app },
            honestPlan(rc, opts.lateMaxMs),
            kind === 'normal' && oneConversion && e.clickId !== undefined && rc.chance(0.5),
          ),
        );
      if (confirms.length) req.confirms = confirms;
    }
    // A network confirms a rewarded ad whose beacon the SDK lost: the confirmation matches nothing.
    if (kind === 'normal' && requests[0] && rc.chance(0.02)) {
      const video = campaigns.find((c) => c.app === app && c.kind === 'video')!;
      (requests[0].confirms ??= []).push({
        kind: 'ssv',
        app,
        campaign: video.id,
        userId: id,
        eventId: uuid(),
        occurredAt: now - 60_000,
        plan: { delayMs: 0, copies: 1, drop: false },
      });
    }
    // A few events the collector must reject one by one, beside valid ones.
    if (r.chance(0.02) && requests[0])
      requests[0].events.push({ ...requests[0].events[0]!, eventId: uuid(), occurredAt: now - 8 * DAY });
    if (r.chance(0.02) && requests[0]) requests[0].events.push({ ...requests[0].events[0]!, eventId: 'not-a-uuid' });
    users.push({ id, app, device, kind, linked: kind !== 'bot' && r.chance(0.7), requests });
  }

  const bad: BadRequest[] = [];
  const kinds: BadKind[] = ['bad_signature', 'timestamp_too_old', 'unknown_key', 'app_mismatch', 'undecodable_body'];
  for (let i = 0; i < Math.max(5, Math.round(opts.users / 40)); i++) {
    const user = r.pick(users);
    bad.push({ kind: kinds[i % kinds.length]!, app: user.app, events: user.requests[0]?.events.slice(0, 3) ?? [] });
  }
  const forged = addAttackers(
    { run: opts.run, users, apps, campaigns, networks, now, count: Math.max(1, Math.round(opts.users / 200)) },
    { r: rc, uuid },
  );
  return { apps, networks, adUnits, campaigns, users, bad, forged, threshold: 100 };
}

export { add, expect, type Expected } from './ground-truth.js';
