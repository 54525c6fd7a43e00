// The demo's attackers (issue 22), each with a real app key, as the SDK ships it: a forger sends an
// impression, a click and a conversion 14 s later, and a rewarded completion, in one request that no
// network or advertiser ever confirms, then forges the confirmations; a crosser uses its own app's
// key on another app's campaign and user, with its own network confirming; a backdater watches eight
// rewarded ads today (all confirmed) but dates them over the past days to get past the daily cap; a
// swapper really watches twelve rewarded ads, each confirmed by its app's network for the video
// campaign of the ad unit, but its beacons name the app's install campaign (10 fen a completion, no
// daily cap: 120 fen, where the video campaign's cap stops at 100).
import { EventType, type BeaconEvent } from '../schemas/beacon-json.js';
import type { Prng } from './prng.js';
import type { Campaign, Confirm, ForgedCallback, SimUser } from './traffic.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

export function addAttackers(
  s: {
    run: string;
    users: SimUser[];
    apps: string[];
    campaigns: Campaign[];
    networks: string[];
    now: number;
    count: number;
  },
  deps: { r: Prng; uuid(): string },
): ForgedCallback[] {
  const { r } = deps;
  const forged: ForgedCallback[] = [];
  const campaignOf = (app: number, kind: Campaign['kind']) =>
    s.campaigns.find((c) => c.app === app && c.kind === kind)!;
  const maker =
    (id: string, device: string) =>
    (type: EventType, at: number, c: Campaign, extra: Partial<BeaconEvent> = {}): BeaconEvent => ({
      eventId: deps.uuid(),
      type,
      occurredAt: Math.round(at),
      userId: id,
      deviceId: device,
      campaignId: c.id,
      creativeId: `${c.id}-cr0`,
      placementId: c.kind === 'video' ? 'rewarded-slot' : 'feed-top',
      ...extra,
    });

  for (let i = 0; i < s.count; i++) {
    {
      const app = r.int(0, s.apps.length - 1);
      const id = `${s.run}-f${i}`;
      const ev = maker(id, `${s.run}-fd${i}`);
      const t = s.now - r.int(10, 120) * MIN;
      const [install, video] = [campaignOf(app, 'install'), campaignOf(app, 'video')];
      const click = ev(EventType.CLICK, t + 1_000, install);
      const conversion = ev(EventType.CONVERSION, t + 15_000, install, {
        clickId: click.eventId,
        valueMicros: 99_000_000,
        currency: 'CNY',
      });
      const completion = ev(EventType.REWARD_COMPLETE, t + 50_000, video);
      const events = [
        ev(EventType.IMPRESSION, t, install),
        click,
        conversion,
        ev(EventType.IMPRESSION, t + 20_000, video),
        completion,
      ];
      s.users.push({ id, app, device: `${s.run}-fd${i}`, kind: 'forger', linked: true, requests: [{ events }] });
      forged.push(
        {
          kind: s.networks[app] === 'admob' ? 'admob_own_key' : 'network_guessed_secret',
          app,
          campaign: video.id,
          userId: id,
          eventId: completion.eventId!,
        },
        { kind: 'postback_guessed_secret', app, campaign: install.id, userId: id, eventId: conversion.eventId! },
      );
    }
    {
      const app = r.int(0, s.apps.length - 1);
      const victimApp = (app + 1) % s.apps.length;
      const victims = s.users.filter((u) => u.app === victimApp && u.kind === 'normal');
      if (victims.length > 0 && victimApp !== app) {
        const victim = r.pick(victims);
        const ev = maker(victim.id, `${s.run}-xd${i}`);
        const video = campaignOf(victimApp, 'video');
        const t = s.now - r.int(10, 120) * MIN;
        const completion = ev(EventType.REWARD_COMPLETE, t + 40_000, video);
        // Its own app's network confirms: the attacker owns that app, so it can have anything confirmed.
        const confirm: Confirm = {
          kind: 'ssv',
          app,
          campaign: video.id,
          userId: victim.id,
          eventId: completion.eventId!,
          occurredAt: t + 41_000,
          plan: { delayMs: 0, copies: 1, drop: false },
        };
        s.users.push({
          id: victim.id,
          app,
          device: `${s.run}-xd${i}`,
          kind: 'crosser',
          linked: true,
          requests: [{ events: [ev(EventType.IMPRESSION, t, video), completion], confirms: [confirm] }],
        });
      }
    }
    {
      const app = r.int(0, s.apps.length - 1);
      const id = `${s.run}-b${i}`;
      const ev = maker(id, `${s.run}-bd${i}`);
      const video = campaignOf(app, 'video');
      const events: BeaconEvent[] = [];
      const confirms: Confirm[] = [];
      for (let k = 8; k >= 1; k--) {
        const t = s.now - k * 13 * HOUR - r.int(0, 30) * MIN;
        const completion = ev(EventType.REWARD_COMPLETE, t + 30_000, video);
        events.push(ev(EventType.IMPRESSION, t, video), completion);
        confirms.push({
          kind: 'ssv',
          app,
          campaign: video.id,
          userId: id,
          eventId: completion.eventId!,
          occurredAt: s.now,
          plan: { delayMs: r.int(0, 2_000), copies: 1, drop: false },
        });
      }
      s.users.push({
        id,
        app,
        device: `${s.run}-bd${i}`,
        kind: 'backdater',
        linked: true,
        requests: [{ events, confirms }],
      });
    }
    {
      const app = r.int(0, s.apps.length - 1);
      const id = `${s.run}-s${i}`;
      const ev = maker(id, `${s.run}-sd${i}`);
      const [video, install] = [campaignOf(app, 'video'), campaignOf(app, 'install')];
      const events: BeaconEvent[] = [];
      const confirms: Confirm[] = [];
      for (let k = 12; k >= 1; k--) {
        const t = s.now - k * 4 * MIN - r.int(0, 60_000);
        const completion = ev(EventType.REWARD_COMPLETE, t + 30_000, install);
        events.push(ev(EventType.IMPRESSION, t, install), completion);
        // The network's callback names the event, and the ad unit it was shown in: the video campaign's.
        confirms.push({
          kind: 'ssv',
          app,
          campaign: video.id,
          userId: id,
          eventId: completion.eventId!,
          occurredAt: t + 31_000,
          plan: { delayMs: r.int(0, 2_000), copies: 1, drop: false },
        });
      }
      s.users.push({
        id,
        app,
        device: `${s.run}-sd${i}`,
        kind: 'swapper',
        linked: true,
        requests: [{ events, confirms }],
      });
    }
  }
  return forged;
}
