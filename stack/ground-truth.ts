// What the pipeline must end with for a scenario (traffic.ts), computed from the traffic alone and
// the rules written in the issues, not from the aggregator's or the rewards service's code: the rows
// of each analyst table, every attribution, which confirmations match which events and why, every
// reward in fen (only for what a network or advertiser confirmed), the attackers' attempts refused,
// and which people's payouts go to review.
import { isUuid } from '../common/name-uuid.js';
import { EventType, type BeaconEvent } from '../schemas/beacon-json.js';
import type { Confirm, Scenario, SimUser } from './traffic.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const CHINA = 8 * HOUR;

/** Adds `n` to `rec[key]`. */
export const add = (rec: Record<string, number>, key: string, n = 1) => void (rec[key] = (rec[key] ?? 0) + n);

/** The demo's names for what the attackers tried (each must earn nothing). */
export const FORGED = {
  unconfirmed: 'no confirmation',
  crossApp: "another app's campaign",
  cap: 'past the daily cap',
  campaignSwap: "another campaign's watch",
} as const;
/** What each kind of attacker tries (attackers.ts). */
export const FORGED_BY_KIND = {
  forger: FORGED.unconfirmed,
  crosser: FORGED.crossApp,
  backdater: FORGED.cap,
  swapper: FORGED.campaignSwap,
} as const;

/**
 * The campaign an app's rewarded ad unit is registered with (`npm run apps -- ad-unit`, drive.ts): its
 * video campaign. The network's callbacks for that unit confirm events of that campaign alone.
 */
export const rewardedCampaign = (s: Pick<Scenario, 'campaigns'>, app: number) =>
  s.campaigns.find((c) => c.app === app && c.kind === 'video')?.id;

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
  campaigns: Map<
    string,
    {
      impressions: number;
      viewables: number;
      clicks: number;
      completions: number;
      conversions: number;
      revenue_micros: number;
      users: number;
    }
  >;
  confirmations: {
    /** Distinct confirmations the collector records (one per source and transaction id). */
    recorded: number;
    /** Copies sent again with the same transaction id: answered 200, recorded once. */
    duplicates: number;
    /** Confirmations the network or advertiser never sent. */
    dropped: number;
    /** Confirmations matched to their event, by the verification's reason ('' = earns). */
    matched: Record<string, number>;
    /** Recorded confirmations that name no event the pipeline holds. */
    noMatch: number;
  };
  /** Valid, attributed rewardable events nothing confirmed: they earn nothing. */
  unconfirmed: number;
  /** Earnings by outcome: posted, or the refusal reason. */
  earnings: Record<string, number>;
  /** Fen credited to each person, `<app_id>:<user_id>`. */
  rewards: Map<string, number>;
  /** Fen each campaign's budget paid out: its rewards and the platform's fee on each. */
  spent: Map<string, number>;
  /** People with invalid traffic: their payouts wait for review. */
  flagged: Set<string>;
  /** The attackers' rewardable events, by what they tried (FORGED), and how many of them must earn nothing. */
  forged: Map<string, { events: string[]; refused: number }>;
  /** Forged callbacks refused by the collector, by error. */
  forgedCallbacks: Record<string, number>;
}

/** What the collector rejects an event for, as its per-event reason starts. */
function eventProblem(e: BeaconEvent, now: number): string | undefined {
  if (!isUuid(e.eventId ?? '')) return 'event_id';
  if ((e.occurredAt as number) < now - 7 * DAY) return 'occurred_at';
  return undefined;
}

/** Why a confirmation does not make its event earn ('' when it does), in the order the design lists them. */
function verification(
  c: Confirm,
  e: BeaconEvent,
  u: SimUser,
  invalid: string,
  attributed: boolean,
  s: Pick<Scenario, 'campaigns'>,
): string {
  if ((c.kind === 'ssv') !== (e.type === EventType.REWARD_COMPLETE)) return 'type_mismatch';
  if (invalid) return invalid;
  if (!attributed) return 'not_attributed';
  if (c.userId !== u.id) return 'user_mismatch';
  // A postback is for its secret's campaign, a network's callback for its ad unit's.
  if ((c.kind === 'postback' ? c.campaign : rewardedCampaign(s, c.app)) !== e.campaignId) return 'campaign_mismatch';
  return '';
}

export function expect(s: Scenario, opts: { now: number; maxClicksPerDeviceHour?: number }): Expected {
  const maxClicks = opts.maxClicksPerDeviceHour ?? 20;
  const out: Expected = {
    accepted: 0,
    rejectedEvents: {},
    rejectedRequests: {},
    rows: {},
    attributions: new Map(),
    campaigns: new Map(),
    confirmations: { recorded: 0, duplicates: 0, dropped: 0, matched: {}, noMatch: 0 },
    unconfirmed: 0,
    earnings: {},
    rewards: new Map(),
    spent: new Map(),
    flagged: new Set(),
    forged: new Map(),
    forgedCallbacks: {},
  };
  for (const b of s.bad) add(out.rejectedRequests, b.kind);
  for (const _ of s.forged) add(out.forgedCallbacks, 'bad_signature');
  const campaign = new Map(s.campaigns.map((c) => [c.id, c]));
  const seen = new Set<string>();
  const clicks = new Map<string, { user: string; time: number; flag: string }>(); // every click, by app/id
  const flood = new Map<string, number>();
  const userSets = new Map<string, Set<string>>();
  const capUsed = new Map<string, number>();
  // Money counts the server's clock (CONTRACTS §8): the whole run is received today, China time.
  const today = Math.floor((opts.now + CHINA) / DAY);

  // Confirmations by what they name; each recorded once whatever its copies.
  const byEvent = new Map<string, Confirm>();
  const byClick = new Map<string, Confirm>();
  const matched = new Set<Confirm>();
  for (const u of s.users) {
    for (const c of u.requests.flatMap((r) => r.confirms ?? [])) {
      if (c.plan.drop) {
        out.confirmations.dropped++;
        continue;
      }
      out.confirmations.recorded++;
      out.confirmations.duplicates += c.plan.copies - 1;
      // Per app: a confirmation of another app meets nothing (the aggregator pairs within an app).
      if (c.eventId) byEvent.set(`${c.app}/${c.eventId}`, c);
      else byClick.set(`${c.app}/${c.clickId}`, c);
    }
  }
  const forged = (kind: string, eventId: string, refused: boolean) => {
    const f = out.forged.get(kind) ?? out.forged.set(kind, { events: [], refused: 0 }).get(kind)!;
    f.events.push(eventId);
    if (refused) f.refused++;
  };

  const ordered = [...s.users.filter((u) => u.kind !== 'claimer'), ...s.users.filter((u) => u.kind === 'claimer')];
  for (const u of ordered) {
    const who = `${s.apps[u.app]}:${u.id}`;
    const givt = u.kind === 'bot' ? 'declared_bot' : '';
    const touches: {
      id: string;
      type: EventType;
      time: number;
      campaign: string;
      creative: string;
      flag: string;
      click: boolean;
    }[] = [];
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
        // Another app's campaign earns this app nothing (CONTRACTS §8); like a bot's, its touches count for nothing.
        let invalid = givt || (c.app !== u.app ? 'campaign_not_in_app' : '');
        let attribution: { to: string; model: 'click' | 'view'; lagMs: number } | undefined;
        const latest = (accept: (t: (typeof touches)[number]) => boolean, windowMs: number) =>
          touches
            .filter((t) => t.campaign === c.id && t.time <= time && t.time >= time - windowMs && accept(t))
            .sort((a, b) => b.time - a.time)[0];

        if (e.type === EventType.IMPRESSION || e.type === EventType.VIEWABLE) {
          if (!invalid)
            touches.push({
              id: e.eventId!,
              type: e.type,
              time,
              campaign: c.id,
              creative: e.creativeId!,
              flag: '',
              click: false,
            });
        } else if (e.type === EventType.CLICK) {
          const bucket = `${u.device}/${Math.floor(time / HOUR)}`;
          const before = flood.get(bucket) ?? 0;
          flood.set(bucket, before + 1);
          if (before >= maxClicks) invalid ||= 'click_flooding';
          clicks.set(`${u.app}/${e.eventId}`, { user: u.id, time, flag: invalid });
          if (!givt)
            touches.push({
              id: e.eventId!,
              type: e.type,
              time,
              campaign: c.id,
              creative: e.creativeId!,
              flag: invalid,
              click: true,
            });
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
        if (invalid) out.flagged.add(who);
        if (attribution) out.attributions.set(e.eventId!, { ...attribution, invalid });
        if (!invalid) {
          const totals = out.campaigns.get(c.id) ?? {
            impressions: 0,
            viewables: 0,
            clicks: 0,
            completions: 0,
            conversions: 0,
            revenue_micros: 0,
            users: 0,
          };
          const column = (
            {
              IMPRESSION: 'impressions',
              VIEWABLE: 'viewables',
              CLICK: 'clicks',
              REWARD_COMPLETE: 'completions',
              CONVERSION: 'conversions',
            } as const
          )[type];
          totals[column]++;
          if (e.type === EventType.CONVERSION) totals.revenue_micros += Number(e.valueMicros ?? 0);
          const users = userSets.get(c.id) ?? userSets.set(c.id, new Set()).get(c.id)!;
          users.add(u.id);
          totals.users = users.size;
          out.campaigns.set(c.id, totals);
        }
        if (e.type !== EventType.CONVERSION && e.type !== EventType.REWARD_COMPLETE) continue;

        // The confirmation naming this event, or (a postback) the click it is attributed to.
        // A click confirms the first conversion its own user made on it, valid or not (here every attributed click is the user's own).
        const byItsClick =
          e.type === EventType.CONVERSION && attribution?.model === 'click'
            ? byClick.get(`${u.app}/${attribution.to}`)
            : undefined;
        const confirm = [byEvent.get(`${u.app}/${e.eventId}`), byItsClick].find(
          (x) => x !== undefined && !matched.has(x),
        );
        let earned = false;
        if (confirm) {
          matched.add(confirm);
          const reason = verification(confirm, e, u, invalid, !!attribution, s);
          add(out.confirmations.matched, reason);
          if (reason === '') {
            // A verified earning: the campaign's rule prices it, within the daily cap of the server's day.
            const amount = e.type === EventType.CONVERSION ? c.rule.conversion : c.rule.complete;
            const capKey = `${who}/${c.id}/${today}`;
            const used = capUsed.get(capKey) ?? 0;
            if (amount === 0) add(out.earnings, 'no_reward');
            else if (c.rule.dailyCap !== undefined && used + amount > c.rule.dailyCap) add(out.earnings, 'daily_cap');
            else {
              add(out.earnings, 'posted');
              earned = true;
              capUsed.set(capKey, used + amount);
              out.rewards.set(who, (out.rewards.get(who) ?? 0) + amount);
              out.spent.set(c.id, (out.spent.get(c.id) ?? 0) + amount + Math.floor((amount * c.rule.feeBps) / 10_000));
            }
          }
        } else if (attribution && !invalid) out.unconfirmed++;

        if (u.kind === 'forger' || u.kind === 'crosser') forged(FORGED_BY_KIND[u.kind], e.eventId!, true);
        else if (u.kind === 'backdater' || u.kind === 'swapper') forged(FORGED_BY_KIND[u.kind], e.eventId!, !earned);
      }
    }
  }
  out.confirmations.noMatch = out.confirmations.recorded - matched.size;
  return out;
}
