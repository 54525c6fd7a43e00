// Issue 22's attacks, replayed against the whole pipeline run as processes, the ad-network simulator
// among them: each must mint nothing (ledger, audit, WeChat sandbox), while in the same run a user
// whose rewarded ads the network confirmed is paid, so that the test can fail.
import { randomBytes } from 'node:crypto';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUserToken } from '../common/auth.js';
import { devSecrets } from '../common/config.js';
import { nameUuid } from '../common/name-uuid.js';
import { signAdmobQuery } from '../ingest/s2s-signing.js';
import { EventType, type BeaconEvent } from '../schemas/beacon-json.js';
import { ADMOB_AD_NETWORK } from '../stack/ad-network/network.js';
import type { Tally } from '../stack/drive.js';
import type { Campaign, Confirm, ForgedCallback, Scenario, SimUser } from '../stack/traffic.js';
import { createPipelineWorld, type PipelineWorld } from './pipeline-world.js';
import { env } from './support.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const now = Date.now();
const run = `atk${now}`;
const apps = [`${run}.a`, `${run}.b`];
const campaign = (id: string, app: number, kind: Campaign['kind']): Campaign => ({
  id: `${run}-${id}`,
  app,
  kind,
  rule:
    kind === 'video'
      ? { complete: 25, conversion: 0, dailyCap: 100, feeBps: 0 }
      : { complete: 10, conversion: 150, feeBps: 0 },
});
const [videoA, installA, videoB, installB] = [
  campaign('a-video', 0, 'video'),
  campaign('a-install', 0, 'install'),
  campaign('b-video', 1, 'video'),
  campaign('b-install', 1, 'install'),
] as const;
let made = 0;
const send = { delayMs: 0, copies: 1, drop: false };
const never = { ...send, drop: true };

/** A user's events, one request, and what the networks and advertisers do about them. */
function user(
  id: string,
  app: number,
  kind: SimUser['kind'],
  build: (ev: (type: EventType, at: number, c: Campaign, extra?: Partial<BeaconEvent>) => BeaconEvent) => {
    events: BeaconEvent[];
    confirms?: Confirm[];
  },
): SimUser & { events: BeaconEvent[] } {
  const ev = (type: EventType, at: number, c: Campaign, extra: Partial<BeaconEvent> = {}): BeaconEvent => ({
    eventId: nameUuid(`${run}/${made++}`),
    type,
    occurredAt: Math.round(at),
    userId: id,
    deviceId: `${id}-device`,
    campaignId: c.id,
    creativeId: `${c.id}-cr0`,
    placementId: 'rewarded-slot',
    ...extra,
  });
  const { events, confirms } = build(ev);
  return {
    id,
    app,
    device: `${id}-device`,
    kind,
    linked: true,
    requests: [{ events, ...(confirms ? { confirms } : {}) }],
    events,
  };
}
const ssv = (app: number, e: BeaconEvent, plan = send): Confirm => ({
  kind: 'ssv',
  app,
  campaign: e.campaignId!,
  userId: e.userId!,
  eventId: e.eventId!,
  occurredAt: now,
  plan,
});
const rewardable = (u: { events: BeaconEvent[] }, type?: EventType) =>
  u.events.filter((e) =>
    type ? e.type === type : e.type === EventType.REWARD_COMPLETE || e.type === EventType.CONVERSION,
  );

// Watches four rewarded ads today; the network confirms each: 4 × 25 fen, paid out (threshold 100).
const legit = user(`${run}-legit`, 0, 'normal', (ev) => {
  const events = [50, 40, 30, 20].flatMap((m) => [
    ev(EventType.IMPRESSION, now - m * MIN, videoA),
    ev(EventType.REWARD_COMPLETE, now - m * MIN + 30_000, videoA),
  ]);
  return { events, confirms: events.filter((e) => e.type === EventType.REWARD_COMPLETE).map((e) => ssv(0, e)) };
});
// The minting attack, with app A's real beacon key: in one request, an impression, a click,
// a conversion 14 s after the click by the device's clock, and a rewarded completion. Nobody confirms.
const forger = user(`${run}-forger`, 0, 'forger', (ev) => {
  const t = now - 10 * MIN;
  const click = ev(EventType.CLICK, t + 1_000, installA);
  return {
    events: [
      ev(EventType.IMPRESSION, t, installA),
      click,
      ev(EventType.CONVERSION, t + 15_000, installA, {
        clickId: click.eventId!,
        valueMicros: 99_000_000,
        currency: 'CNY',
      }),
      ev(EventType.IMPRESSION, t + 20_000, videoA),
      ev(EventType.REWARD_COMPLETE, t + 50_000, videoA),
    ],
  };
});
// App A's key on app B's campaigns and B's user; app A's own network confirms the completion.
const victim = `${run}-victim`;
const crosser = user(victim, 0, 'crosser', (ev) => {
  const t = now - 15 * MIN;
  const completion = ev(EventType.REWARD_COMPLETE, t + 30_000, videoB);
  const click = ev(EventType.CLICK, t + 60_000, installB);
  return {
    events: [
      ev(EventType.IMPRESSION, t, videoB),
      completion,
      ev(EventType.IMPRESSION, t + 50_000, installB),
      click,
      ev(EventType.CONVERSION, t + 5 * MIN, installB, {
        clickId: click.eventId!,
        valueMicros: 50_000_000,
        currency: 'CNY',
      }),
    ],
    confirms: [ssv(0, completion)],
  };
});
// Eight rewarded ads really watched and confirmed, but dated over the past four days, in one request:
// the cap (100 fen a day) counts the server's day, so 4 are paid.
const backdater = user(`${run}-backdater`, 0, 'backdater', (ev) => {
  const events = [8, 7, 6, 5, 4, 3, 2, 1].flatMap((k) => [
    ev(EventType.IMPRESSION, now - k * 13 * HOUR, videoA),
    ev(EventType.REWARD_COMPLETE, now - k * 13 * HOUR + 30_000, videoA),
  ]);
  return { events, confirms: events.filter((e) => e.type === EventType.REWARD_COMPLETE).map((e) => ssv(0, e)) };
});
// A conversion whose postback never comes, and a completion whose reward callback never comes.
const noPostback = user(`${run}-nopostback`, 0, 'normal', (ev) => {
  const click = ev(EventType.CLICK, now - 20 * MIN, installA);
  const conversion = ev(EventType.CONVERSION, now - 5 * MIN, installA, {
    clickId: click.eventId!,
    valueMicros: 10_000_000,
    currency: 'CNY',
  });
  return {
    events: [ev(EventType.IMPRESSION, now - 21 * MIN, installA), click, conversion],
    confirms: [
      {
        kind: 'postback',
        app: 0,
        campaign: installA.id,
        userId: conversion.userId!,
        eventId: conversion.eventId!,
        occurredAt: now,
        plan: never,
      },
    ],
  };
});
const noCallback = user(`${run}-nocallback`, 0, 'normal', (ev) => {
  const completion = ev(EventType.REWARD_COMPLETE, now - 9 * MIN, videoA);
  return {
    events: [ev(EventType.IMPRESSION, now - 10 * MIN, videoA), completion],
    confirms: [ssv(0, completion, never)],
  };
});
// Real rewarded ads, really watched: the app's network (AdMob for app A, Pangle for app B) confirms each
// for its ad unit, registered with the app's video campaign; the beacons claim the app's install
// campaign instead, which pays 10 fen a completion with no daily cap: twelve would earn 120 fen, where
// the video campaign's cap stops at 100.
const swapper = (app: number) =>
  user(`${run}-swapper${app}`, app, 'swapper', (ev) => {
    const [video, install] = app === 0 ? [videoA, installA] : [videoB, installB];
    const events = [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1].flatMap((k) => [
      ev(EventType.IMPRESSION, now - k * 4 * MIN, install),
      ev(EventType.REWARD_COMPLETE, now - k * 4 * MIN + 30_000, install),
    ]);
    return {
      events,
      confirms: events
        .filter((e) => e.type === EventType.REWARD_COMPLETE)
        .map((e) => ({ ...ssv(app, e), campaign: video.id })),
    };
  });
const swappers = [swapper(0), swapper(1)];
// A completion whose genuine callback the test captures and replays.
const replayed = user(`${run}-replayed`, 0, 'normal', (ev) => ({
  events: [ev(EventType.IMPRESSION, now - 10 * MIN, videoA), ev(EventType.REWARD_COMPLETE, now - 9 * MIN, videoA)],
}));

const [forgedCompletion, forgedConversion] = [
  rewardable(forger, EventType.REWARD_COMPLETE)[0]!,
  rewardable(forger, EventType.CONVERSION)[0]!,
];
const forged: ForgedCallback[] = [
  { kind: 'admob_own_key', app: 0, campaign: videoA.id, userId: forger.id, eventId: forgedCompletion.eventId! },
  {
    kind: 'network_guessed_secret',
    app: 1,
    campaign: videoB.id,
    userId: forger.id,
    eventId: forgedCompletion.eventId!,
  },
  {
    kind: 'postback_guessed_secret',
    app: 0,
    campaign: installA.id,
    userId: forger.id,
    eventId: forgedConversion.eventId!,
  },
];
const users = [legit, forger, crosser, backdater, noPostback, noCallback, replayed, ...swappers];
const s: Scenario = {
  apps,
  networks: ['admob', 'pangle'],
  adUnits: apps.map((a) => `${a}.rewarded`),
  campaigns: [videoA, installA, videoB, installB],
  users,
  bad: [],
  forged,
  threshold: 100,
};
const person = (u: SimUser) => `${apps[u.app]}:${u.id}`;

let world: PipelineWorld;
let db: pg.Pool;
let tally: Tally;
const answers: { replays: number[]; tampered?: { status: number; error?: string } } = { replays: [] };
let replayTransaction = '';

beforeAll(async () => {
  world = await createPipelineWorld();
  db = new pg.Pool({ connectionString: world.env.DATABASE_URL, max: 2 });
  const ingest = `http://127.0.0.1:${world.env.INGEST_PORT}`;
  tally = await world.driver.play(s, await world.driver.setup(s));

  // A genuine AdMob callback for the replayed user's completion (signed with the key the collector
  // trusts), sent three times as a replaying attacker would: 200 each time, recorded once.
  const completion = rewardable(replayed)[0]!;
  replayTransaction = randomBytes(16).toString('hex');
  const genuine = (params: Record<string, string>) =>
    signAdmobQuery(
      {
        ad_network: ADMOB_AD_NETWORK,
        ad_unit: s.adUnits[0]!,
        custom_data: completion.eventId!,
        reward_amount: '1',
        reward_item: 'coins',
        timestamp: String(Date.now()),
        transaction_id: replayTransaction,
        user_id: replayed.id,
        ...params,
      },
      world.admob,
    );
  const query = genuine({});
  for (let i = 0; i < 3; i++) answers.replays.push((await fetch(`${ingest}/v1/ssv/admob?${query}`)).status);
  // The same genuine callback, altered to name the forger's completion: the signature no longer holds.
  const tampered = query
    .replace(`custom_data=${completion.eventId}`, `custom_data=${forgedCompletion.eventId}`)
    .replace(`user_id=${encodeURIComponent(replayed.id)}`, `user_id=${encodeURIComponent(forger.id)}`);
  expect(tampered).not.toBe(query);
  const res = await fetch(`${ingest}/v1/ssv/admob?${tampered}`);
  answers.tampered = { status: res.status, error: ((await res.json()) as { error?: string }).error };

  await world.driver.s2s.delivered(60_000);
  await world.driver.drained(180_000);
  await world.driver.payoutsSettled(s, 180_000);
}, 420_000);

afterAll(async () => {
  await db?.end();
  await world?.stop();
});

/** The earnings the rewards service recorded for these events: status and reason by event id. */
async function earnings(events: BeaconEvent[]) {
  const { rows } = await db.query<{ id: string; status: string; reason: string; amount: number }>(
    'select source_event_id::text as id, status, reason, amount_fen::int as amount from earnings where source_event_id = any($1::uuid[])',
    [events.map((e) => e.eventId)],
  );
  return rows;
}
/** What a person was ever credited (available + held + paid out). */
async function credited(who: string) {
  const { rows } = await db.query<{ fen: number }>(
    "select coalesce(sum(credits), 0)::int as fen from accounts where owner = $1 and type = 'user_available'",
    [who],
  );
  return rows[0]!.fen;
}
async function clickhouse<T>(query: string): Promise<T[]> {
  const ch = createClient({
    url: env.CLICKHOUSE_URL,
    database: world.env.CLICKHOUSE_DATABASE,
    log: { level: ClickHouseLogLevel.OFF },
  });
  try {
    return await (await ch.query({ query, format: 'JSONEachRow' })).json<T>();
  } finally {
    await ch.close();
  }
}
const ids = (events: BeaconEvent[]) => events.map((e) => `'${e.eventId}'`).join(',');

describe('the attacks of issue 22, against the whole pipeline', () => {
  it('pays a user whose rewarded ads the network confirmed (the control)', async () => {
    const got = await earnings(rewardable(legit));
    expect(got.map((e) => [e.status, e.amount])).toEqual(Array(4).fill(['posted', 25]));
    expect(await credited(person(legit))).toBe(100);
  });

  it('pays nothing for forged beacons sent with a real app key, though the collector accepted them', async () => {
    const rows = await clickhouse<{ type: string; invalid_reason: string }>(
      `SELECT type, invalid_reason FROM events WHERE event_id IN (${ids(forger.events)})`,
    );
    expect(rows).toHaveLength(5);
    expect(rows.every((r) => r.invalid_reason === '')).toBe(true);
    expect(await clickhouse(`SELECT event_id FROM verifications WHERE event_id IN (${ids(forger.events)})`)).toEqual(
      [],
    );
    expect(await earnings(forger.events)).toEqual([]);
    expect(await credited(person(forger))).toBe(0);
    // Linked to WeChat, it asks to withdraw what the attacker was paid: refused.
    const token = signUserToken(
      devSecrets.REWARDS_TOKEN_SECRET,
      { appId: apps[0]!, userId: forger.id },
      { ttlS: 600, nowMs: Date.now() },
    );
    const res = await fetch(`http://127.0.0.1:${world.env.REWARDS_PORT}/v1/users/${forger.id}/withdrawals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': `${run}-w` },
      body: JSON.stringify({ amount: 150 }),
    });
    expect({ status: res.status, body: await res.json() }).toMatchObject({
      status: 422,
      body: { error: 'insufficient_funds' },
    });
  });

  it('refuses forged confirmations: another P-256 key, guessed secrets, and a genuine callback altered', async () => {
    expect(tally.forgedCallbacks).toEqual({ bad_signature: forged.length });
    expect(answers.tampered).toEqual({ status: 401, error: 'bad_signature' });
    expect(
      await clickhouse(`SELECT transaction_id FROM confirmations WHERE event_id IN (${ids(forger.events)})`),
    ).toEqual([]);
  });

  it("gives app A's key nothing from app B's campaigns, nor credits B's user", async () => {
    const rows = await clickhouse<{ invalid_reason: string }>(
      `SELECT invalid_reason FROM events WHERE event_id IN (${ids(crosser.events)})`,
    );
    expect(rows.map((r) => r.invalid_reason)).toEqual(Array(5).fill('campaign_not_in_app'));
    const verified = await clickhouse<{ reason: string }>(
      `SELECT reason FROM verifications WHERE event_id IN (${ids(crosser.events)})`,
    );
    expect(verified).toEqual([{ reason: 'campaign_not_in_app' }]);
    expect(await earnings(crosser.events)).toEqual([]);
    expect([await credited(person(crosser)), await credited(`${apps[1]}:${victim}`)]).toEqual([0, 0]);
    const { rows: budgets } = await db.query<{ owner: string; fen: number }>(
      "select owner, (credits - debits)::int as fen from accounts where type = 'campaign_budget' and owner = any($1)",
      [[videoB.id, installB.id]],
    );
    expect(budgets.map((b) => b.fen)).toEqual([users.length * 2_000, users.length * 2_000]);
  });

  it("holds backdated completions, sent in one request, to the daily cap of the server's day", async () => {
    const got = await earnings(rewardable(backdater));
    expect(got.filter((e) => e.status === 'posted').map((e) => e.amount)).toEqual([25, 25, 25, 25]);
    expect(got.filter((e) => e.status !== 'posted').map((e) => e.reason)).toEqual(Array(4).fill('daily_cap'));
    expect(await credited(person(backdater))).toBe(100);
  });

  it("pays nothing for real rewarded watches that the network confirmed for its ad unit's video campaign, claimed by the install campaign", async () => {
    for (const [u, network, video] of [
      [swappers[0]!, 'admob', videoA],
      [swappers[1]!, 'pangle', videoB],
    ] as const) {
      const completions = rewardable(u);
      const confirmed = await clickhouse<{ source: string; campaign_id: string }>(
        `SELECT source, campaign_id FROM confirmations WHERE event_id IN (${ids(completions)})`,
      );
      expect(confirmed).toEqual(Array(12).fill({ source: network, campaign_id: video.id }));
      const verified = await clickhouse<{ reason: string }>(
        `SELECT reason FROM verifications WHERE event_id IN (${ids(completions)})`,
      );
      expect(verified).toEqual(Array(12).fill({ reason: 'campaign_mismatch' }));
      expect(await earnings(u.events)).toEqual([]);
      expect(await credited(person(u))).toBe(0);
    }
  });

  it('pays nothing for a conversion the advertiser never confirmed', async () => {
    const [conversion] = rewardable(noPostback);
    expect(
      await clickhouse<{ model: string; invalid_reason: string }>(
        `SELECT model, invalid_reason FROM attributions WHERE event_id = '${conversion!.eventId}'`,
      ),
    ).toEqual([{ model: 'click', invalid_reason: '' }]);
    expect(await earnings(noPostback.events)).toEqual([]);
    expect(await credited(person(noPostback))).toBe(0);
  });

  it('pays nothing for a rewarded completion the network never confirmed', async () => {
    expect(
      await clickhouse(
        `SELECT event_id FROM attributions WHERE event_id IN (${ids(rewardable(noCallback))}) AND invalid_reason = ''`,
      ),
    ).toHaveLength(1);
    expect(await earnings(noCallback.events)).toEqual([]);
    expect(await credited(person(noCallback))).toBe(0);
  });

  it('pays a replayed network callback once', async () => {
    expect(answers.replays).toEqual([200, 200, 200]);
    expect(
      await clickhouse(`SELECT transaction_id FROM confirmations WHERE transaction_id = '${replayTransaction}'`),
    ).toHaveLength(1);
    expect((await earnings(replayed.events)).map((e) => [e.status, e.amount])).toEqual([['posted', 25]]);
    expect(await credited(person(replayed))).toBe(25);
  });

  it('mints nothing: the ledger holds only the confirmed rewards, the sandbox paid only those, and the audit passes', async () => {
    const total = (await Promise.all(users.map((u) => credited(person(u))))).reduce((a, b) => a + b, 0);
    expect(total).toBe(100 + 100 + 25); // the control, the capped backdater, the replayed completion once
    const seen = await world.driver.observe(s);
    expect(seen.payouts.paid?.fen).toBe(200); // the control and the backdater reach the 100 fen threshold
    expect((await world.driver.sandboxState()).paidFen).toBe(200);
    const audited = await world.driver.audit();
    expect(audited.ok, audited.out).toBe(true);
  });
});
