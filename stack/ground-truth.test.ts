// The ground truth on small hand-made scenarios (what each confirmation case earns) and on generated
// ones (every attacker's attempt refused, every honest rewarded event given a confirmation plan).
import { describe, expect, it } from 'vitest';
import { EventType, type BeaconEvent } from '../schemas/beacon-json.js';
import { FORGED, expect as groundTruth } from './ground-truth.js';
import { generate, type Campaign, type Confirm, type Scenario, type SimUser } from './traffic.js';

const now = Date.UTC(2026, 5, 1, 4, 0, 0); // 12:00 in China
const MIN = 60_000;
const video: Campaign = {
  id: 'c0-video',
  app: 0,
  kind: 'video',
  rule: { complete: 25, conversion: 0, dailyCap: 100, feeBps: 0 },
};
const install: Campaign = {
  id: 'c0-install',
  app: 0,
  kind: 'install',
  rule: { complete: 10, conversion: 150, feeBps: 0 },
};
const otherVideo: Campaign = {
  id: 'c1-video',
  app: 1,
  kind: 'video',
  rule: { complete: 25, conversion: 0, dailyCap: 100, feeBps: 0 },
};
let n = 0;
const id = () => `00000000-0000-4000-8000-${String(n++).padStart(12, '0')}`;
const ev = (type: EventType, at: number, c: Campaign, extra: Partial<BeaconEvent> = {}): BeaconEvent => ({
  eventId: id(),
  type,
  occurredAt: at,
  userId: 'u1',
  deviceId: 'd1',
  campaignId: c.id,
  creativeId: `${c.id}-cr0`,
  placementId: 'p',
  ...extra,
});
const ok = { delayMs: 0, copies: 1, drop: false };
const ssv = (e: BeaconEvent, extra: Partial<Confirm> = {}): Confirm => ({
  kind: 'ssv',
  app: 0,
  campaign: e.campaignId!,
  userId: 'u1',
  eventId: e.eventId!,
  occurredAt: now,
  plan: ok,
  ...extra,
});
const postback = (e: BeaconEvent, extra: Partial<Confirm> = {}): Confirm => ({
  kind: 'postback',
  app: 0,
  campaign: e.campaignId!,
  userId: 'u1',
  eventId: e.eventId!,
  occurredAt: now,
  plan: ok,
  ...extra,
});
function scenario(
  events: BeaconEvent[],
  confirms: (evs: BeaconEvent[]) => Confirm[],
  user: Partial<SimUser> = {},
): Scenario {
  const u: SimUser = {
    id: 'u1',
    app: 0,
    device: 'd1',
    linked: true,
    kind: 'normal',
    requests: [{ events, confirms: confirms(events) }],
    ...user,
  };
  return {
    apps: ['a0', 'a1'],
    networks: ['admob', 'pangle'],
    adUnits: ['a0.r', 'a1.r'],
    campaigns: [video, install, otherVideo],
    users: [u],
    bad: [],
    forged: [],
    threshold: 100,
  };
}
/** An impression and a completion 30 s later on `c`. */
const watched = (c: Campaign, at = now - 30 * MIN) => [
  ev(EventType.IMPRESSION, at, c),
  ev(EventType.REWARD_COMPLETE, at + 30_000, c),
];

describe('the ground truth', () => {
  it.each([
    {
      what: 'a confirmed, attributed completion earns',
      events: () => watched(video),
      confirms: (e: BeaconEvent[]) => [ssv(e[1]!)],
      matched: { '': 1 },
      posted: 1,
      unconfirmed: 0,
      noMatch: 0,
    },
    {
      what: 'an unconfirmed completion earns nothing',
      events: () => watched(video),
      confirms: () => [],
      matched: {},
      posted: 0,
      unconfirmed: 1,
      noMatch: 0,
    },
    {
      what: 'a confirmation never sent earns nothing',
      events: () => watched(video),
      confirms: (e: BeaconEvent[]) => [ssv(e[1]!, { plan: { ...ok, drop: true } })],
      matched: {},
      posted: 0,
      unconfirmed: 1,
      noMatch: 0,
    },
    {
      what: 'a confirmation sent three times earns once',
      events: () => watched(video),
      confirms: (e: BeaconEvent[]) => [ssv(e[1]!, { plan: { ...ok, copies: 3 } })],
      matched: { '': 1 },
      posted: 1,
      unconfirmed: 0,
      noMatch: 0,
    },
    {
      what: 'a confirmed completion no impression preceded is not attributed',
      events: () => watched(video).slice(1),
      confirms: (e: BeaconEvent[]) => [ssv(e[0]!)],
      matched: { not_attributed: 1 },
      posted: 0,
      unconfirmed: 0,
      noMatch: 0,
    },
    {
      what: "another app's network confirming meets nothing (pairing is per app), and leaves the event unconfirmed",
      events: () => watched(video),
      confirms: (e: BeaconEvent[]) => [ssv(e[1]!, { app: 1 })],
      matched: {},
      posted: 0,
      unconfirmed: 1,
      noMatch: 1,
    },
    {
      what: 'a confirmation for another user is a user mismatch',
      events: () => watched(video),
      confirms: (e: BeaconEvent[]) => [ssv(e[1]!, { userId: 'u2' })],
      matched: { user_mismatch: 1 },
      posted: 0,
      unconfirmed: 0,
      noMatch: 0,
    },
    {
      what: 'a postback for a completion is a type mismatch',
      events: () => watched(video),
      confirms: (e: BeaconEvent[]) => [postback(e[1]!)],
      matched: { type_mismatch: 1 },
      posted: 0,
      unconfirmed: 0,
      noMatch: 0,
    },
    {
      what: 'a confirmation naming no event matches nothing',
      events: () => watched(video),
      confirms: () => [ssv(ev(EventType.REWARD_COMPLETE, now, video))],
      matched: {},
      posted: 0,
      unconfirmed: 1,
      noMatch: 1,
    },
    {
      what: 'a postback naming the click confirms the conversion attributed to it',
      events: () => {
        const [i, k] = [ev(EventType.IMPRESSION, now - 9 * MIN, install), ev(EventType.CLICK, now - 8 * MIN, install)];
        return [i, k, ev(EventType.CONVERSION, now - MIN, install, { clickId: k.eventId! })];
      },
      confirms: (e: BeaconEvent[]) => [postback(e[2]!, { eventId: undefined, clickId: e[1]!.eventId! })],
      matched: { '': 1 },
      posted: 1,
      unconfirmed: 0,
      noMatch: 0,
    },
    {
      what: 'a postback naming the click of an injected conversion (5 s after it) is decided against it: click_injection, nothing earned',
      events: () => {
        const k = ev(EventType.CLICK, now - 8 * MIN, install);
        return [k, ev(EventType.CONVERSION, now - 8 * MIN + 5_000, install, { clickId: k.eventId! })];
      },
      confirms: (e: BeaconEvent[]) => [postback(e[1]!, { eventId: undefined, clickId: e[0]!.eventId! })],
      matched: { click_injection: 1 },
      posted: 0,
      unconfirmed: 0,
      noMatch: 0,
    },
    {
      what: "a postback for another campaign's conversion is a campaign mismatch",
      events: () => {
        const k = ev(EventType.CLICK, now - 8 * MIN, install);
        return [k, ev(EventType.CONVERSION, now - MIN, install, { clickId: k.eventId! })];
      },
      confirms: (e: BeaconEvent[]) => [postback(e[1]!, { campaign: video.id })],
      matched: { campaign_mismatch: 1 },
      posted: 0,
      unconfirmed: 0,
      noMatch: 0,
    },
    {
      what: "a network's confirmation (for its ad unit's video campaign) of a completion the beacon claims for the app's install campaign is a campaign mismatch",
      events: () => watched(install),
      confirms: (e: BeaconEvent[]) => [ssv(e[1]!)],
      matched: { campaign_mismatch: 1 },
      posted: 0,
      unconfirmed: 0,
      noMatch: 0,
    },
    {
      what: "a completion on another app's campaign, confirmed by its own app's network, earns nothing",
      events: () => watched(otherVideo),
      confirms: (e: BeaconEvent[]) => [ssv(e[1]!)],
      matched: { campaign_not_in_app: 1 },
      posted: 0,
      unconfirmed: 0,
      noMatch: 0,
    },
  ])('$what', ({ events, confirms, matched, posted, unconfirmed, noMatch }) => {
    const truth = groundTruth(scenario(events(), confirms), { now });
    expect(truth.confirmations.matched).toEqual(matched);
    expect(truth.earnings.posted ?? 0).toBe(posted);
    expect(truth.unconfirmed).toBe(unconfirmed);
    expect(truth.confirmations.noMatch).toBe(noMatch);
  });

  it('counts a daily cap by the day the server verifies, however the device dates the events', () => {
    const events = [1, 2, 3, 4, 5, 6].flatMap((k) => watched(video, now - k * 20 * 60 * MIN));
    const truth = groundTruth(
      scenario(events, (e) => e.filter((x) => x.type === EventType.REWARD_COMPLETE).map((x) => ssv(x))),
      { now },
    );
    expect(truth.earnings).toEqual({ posted: 4, daily_cap: 2 });
    expect(truth.rewards).toEqual(new Map([['a0:u1', 100]]));
  });

  it("flags another app's campaign, keyed by the person who sent it", () => {
    const truth = groundTruth(
      scenario(watched(otherVideo), () => []),
      { now },
    );
    expect(truth.rows).toEqual({ 'IMPRESSION/campaign_not_in_app': 1, 'REWARD_COMPLETE/campaign_not_in_app': 1 });
    expect(truth.flagged).toEqual(new Set(['a0:u1']));
    expect(truth.attributions.size).toBe(0);
  });
});

describe('generated traffic', () => {
  const s = generate({ run: 'gt', users: 600, seed: 7, now });
  const truth = groundTruth(s, { now });

  it('is the same for the same seed', () => {
    expect(JSON.stringify(generate({ run: 'gt', users: 600, seed: 7, now }))).toBe(JSON.stringify(s));
  });

  it("asks a network or advertiser about every honest rewarded event, and none about a forger's", () => {
    for (const u of s.users) {
      const rewardable = u.requests
        .flatMap((r) => r.events)
        .filter((e) => e.type === EventType.REWARD_COMPLETE || e.type === EventType.CONVERSION)
        .map((e) => e.eventId);
      const named = new Set(
        u.requests
          .flatMap((r) => r.confirms ?? [])
          .map(
            (c) =>
              c.eventId ??
              u.requests
                .flatMap((r) => r.events)
                .find((e) => e.clickId === c.clickId && e.type === EventType.CONVERSION)?.eventId,
          ),
      );
      if (u.kind === 'forger') expect(named.size).toBe(0);
      else
        for (const e of rewardable)
          expect({ user: u.id, e, named: named.has(e) }).toEqual({ user: u.id, e, named: true });
    }
  });

  it('has every kind of attacker, and every attempt of theirs refused', () => {
    expect([...truth.forged.keys()].sort()).toEqual(Object.values(FORGED).sort());
    expect(truth.forged.get(FORGED.unconfirmed)).toMatchObject({
      events: expect.any(Array),
      refused: truth.forged.get(FORGED.unconfirmed)!.events.length,
    });
    expect(truth.forged.get(FORGED.crossApp)!.refused).toBe(truth.forged.get(FORGED.crossApp)!.events.length);
    const backdaters = s.users.filter((u) => u.kind === 'backdater').length;
    expect(truth.forged.get(FORGED.cap)).toMatchObject({ refused: 4 * backdaters });
    const swaps = truth.forged.get(FORGED.campaignSwap)!;
    expect(swaps.events).toHaveLength(12 * s.users.filter((u) => u.kind === 'swapper').length);
    expect(swaps.refused).toBe(swaps.events.length);
    expect(truth.forgedCallbacks).toEqual({ bad_signature: s.forged.length });
    for (const u of s.users.filter((x) => x.kind === 'forger' || x.kind === 'crosser' || x.kind === 'swapper'))
      expect(truth.rewards.get(`${s.apps[u.app]}:${u.id}`)).toBeUndefined();
  });

  it('has confirmations of every kind: matched, duplicated, never sent, matching nothing, and events left unconfirmed', () => {
    expect(truth.confirmations.matched['']).toBeGreaterThan(100);
    expect(truth.confirmations.matched.declared_bot).toBeGreaterThan(0);
    expect(truth.confirmations.matched.not_attributed).toBeGreaterThan(0);
    expect(truth.confirmations.matched.campaign_not_in_app).toBeGreaterThan(0);
    expect(truth.confirmations.matched.campaign_mismatch).toBe(truth.forged.get(FORGED.campaignSwap)!.events.length); // the swappers' alone
    expect(truth.confirmations).toMatchObject({
      duplicates: expect.any(Number),
      dropped: expect.any(Number),
      noMatch: expect.any(Number),
    });
    expect(
      Math.min(
        truth.confirmations.duplicates,
        truth.confirmations.dropped,
        truth.confirmations.noMatch,
        truth.unconfirmed,
      ),
    ).toBeGreaterThan(0);
    // Everything that earns was confirmed: posted + no_reward + daily_cap = matched with no reason.
    expect(Object.values(truth.earnings).reduce((a, b) => a + b, 0)).toBe(truth.confirmations.matched['']);
  });
});
