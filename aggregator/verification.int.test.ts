// The join of rewardable events and their confirmations on the real stack: only a confirmed, valid,
// attributed event of the confirming app and user, confirmed in time, earns, once; everything else
// is recorded with its reason (ads.verifications, ads.unverified).
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { migrateClickhouse } from '../schemas/migrate.js';
import { pipeline } from '../schemas/gen/messages.js';
import { earningId } from '../schemas/records.js';
import { createTestClickhouse, env, silentLog } from '../test/support.js';
import {
  acceptedRecord,
  confirmationRecord,
  createAggregatorWorld,
  testEvent,
  type AggregatorWorld,
  type TestEvent,
} from './test-support.js';

const MIN = 60_000;
const H = 60 * MIN;
let world: AggregatorWorld;
beforeAll(async () => {
  world = await createAggregatorWorld({ partitions: 2 });
  const db = new pg.Client({ connectionString: world.db.url });
  await db.connect();
  await db.query(`insert into apps (app_id) values ('test.app'), ('other.app')`);
  await db.query(`insert into campaigns (campaign_id, app_id, verification_window_s) values
    ('campaign-owned', 'test.app', 3600), ('campaign-foreign', 'other.app', 3600), ('campaign-short', 'test.app', 60)`);
  await db.end();
});
afterAll(async () => {
  await world?.stop();
});

/** A user's shown-then-completed rewarded ad, received at `receivedAt`: [impression, completion]. */
function completion(user: string, receivedAt = Date.now(), over: Partial<TestEvent> = {}): [TestEvent, TestEvent] {
  const u = { userId: user, deviceId: `${user}-phone`, ...over };
  return [testEvent('IMPRESSION', receivedAt - 5 * MIN, u), testEvent('REWARD_COMPLETE', receivedAt - 2 * MIN, u)];
}
/** A user's click then conversion: [click, conversion]. */
function conversion(user: string, receivedAt = Date.now(), over: Partial<TestEvent> = {}): [TestEvent, TestEvent] {
  const u = { userId: user, deviceId: `${user}-phone`, ...over };
  return [testEvent('CLICK', receivedAt - 30 * MIN, u), testEvent('CONVERSION', receivedAt - MIN, u)];
}

describe('the join of events and confirmations', () => {
  it('earns exactly for confirmed, valid, attributed events of the confirming app and user, in time, and records why not for the rest', async () => {
    const now = Date.now();
    const s = {
      eventFirst: completion('u-event-first'),
      confirmationFirst: completion('u-confirmation-first'),
      duplicated: completion('u-duplicated'),
      appMismatch: completion('u-app'),
      userMismatch: completion('u-user', now - 2 * H),
      late: completion('u-late', now - 2 * H),
      unconfirmed: completion('u-unconfirmed', now - 2 * H),
      byClick: conversion('u-by-click'),
      foreign: completion('u-foreign', now, { campaignId: 'campaign-foreign' }),
      shortWindow: completion('u-short', now - 90_000, { campaignId: 'campaign-short' }),
      owned: completion('u-owned', now, { campaignId: 'campaign-owned' }),
      otherCampaign: conversion('u-other-campaign'),
    };
    // A click a postback names: first a conversion of another user on the click's device (attributed to
    // it by device), then one 5 s after the click (click injection), then a later one of its own user.
    const named = testEvent('CLICK', now - 30 * MIN, { userId: 'u-clicker', deviceId: 'shared-phone' });
    const byDevice = testEvent('CONVERSION', now - 3 * MIN, { userId: 'u-same-phone', deviceId: 'shared-phone' });
    const injected = testEvent('CONVERSION', named.time + 5_000, { userId: 'u-clicker', deviceId: 'shared-phone' });
    const clickers = testEvent('CONVERSION', now - MIN, { userId: 'u-clicker', deviceId: 'shared-phone' });
    const beacons = (k: keyof typeof s, receivedAt = now) => acceptedRecord(s[k], { receivedAt });
    const done = (k: keyof typeof s) => s[k][1];
    const duplicate = confirmationRecord(done('duplicated'));
    const nothing = confirmationRecord(undefined, {
      eventId: randomUUID(),
      userId: 'u-nothing',
      receivedAt: now - 2 * H,
    });
    const byClick = confirmationRecord(done('byClick'), { eventId: '', clickId: s.byClick[0].id });
    // Another app's verified confirmation naming this app's event (its network confirms anything it is asked to).
    const foreign = confirmationRecord(done('appMismatch'), { appId: 'other.app', receivedAt: now - 2 * H });
    const undecodable = { key: 'u-poison', value: Buffer.from('not a confirmation \u00ff') };

    await world.start();
    // First: these events, and the confirmations that come before their events.
    await world.send([
      beacons('eventFirst'),
      beacons('duplicated'),
      beacons('appMismatch'),
      beacons('userMismatch', now - 2 * H),
      beacons('late', now - 2 * H),
      beacons('unconfirmed', now - 2 * H),
      beacons('foreign'),
      beacons('shortWindow', now - 90_000),
      beacons('owned'),
      beacons('otherCampaign'),
      acceptedRecord([named, byDevice, injected, clickers], { receivedAt: now }),
    ]);
    await world.confirm([confirmationRecord(done('confirmationFirst')), nothing, byClick, undecodable, foreign]);
    await world.drained();
    // Then the other sides.
    await world.send([beacons('confirmationFirst'), beacons('byClick')]);
    await world.confirm([
      confirmationRecord(done('eventFirst')),
      duplicate,
      duplicate,
      duplicate,
      confirmationRecord(done('appMismatch')),
      confirmationRecord(clickers, { eventId: '', clickId: named.id }),
      // Another user's: it reaches that user's partition and never meets the event (pairing-local.ts).
      confirmationRecord(done('userMismatch'), { userId: 'u-someone-else', receivedAt: now - 2 * H }),
      confirmationRecord(done('late'), { receivedAt: now }),
      confirmationRecord(done('foreign')),
      confirmationRecord(done('shortWindow'), { receivedAt: now }), // 90 s after: past its campaign's 60 s
      confirmationRecord(done('owned')),
      confirmationRecord(done('otherCampaign'), { campaignId: 'campaign-2' }),
    ]);
    await world.drained();

    const reasons = new Map(
      (await world.query<{ event_id: string; reason: string }>('SELECT event_id, reason FROM verifications')).map(
        (r) => [r.event_id, r.reason],
      ),
    );
    const expected: [keyof typeof s, string][] = [
      ['eventFirst', ''],
      ['confirmationFirst', ''],
      ['duplicated', ''],
      ['byClick', ''],
      ['owned', ''],
      ['appMismatch', ''],
      ['late', 'confirmation_late'],
      ['foreign', 'campaign_not_in_app'],
      ['shortWindow', 'confirmation_late'],
      ['otherCampaign', 'campaign_mismatch'],
    ];
    // The postback naming the click is decided against the first conversion of the click's own user
    // (the injected one), never the other user's, and the later conversion cannot take it.
    expect(reasons).toEqual(
      new Map([
        ...expected.map(([k, reason]): [string, string] => [done(k).id, reason]),
        [injected.id, 'click_injection'],
      ]),
    );
    // And the click's, the foreign one, the one naming nothing, the other user's.
    expect(await world.count('SELECT count() AS n FROM confirmations')).toBe(expected.length + 4);
    expect(await world.count("SELECT count() AS n FROM events WHERE invalid_reason = 'campaign_not_in_app'")).toBe(2);

    const earners = expected.filter(([, reason]) => reason === '').map(([k]) => done(k));
    const earnings = (await world.readTopic(world.topics.earnings, earners.length)).map((m) =>
      pipeline.v1.VerifiedEarning.decode(m.value!),
    );
    expect(earnings.map((e) => e.earningId).sort()).toEqual(earners.map((e) => earningId(e.id)).sort());
    const first = earnings.find((e) => e.sourceEventId === done('eventFirst').id)!;
    expect(first.confirmation).toMatch(/^admob:tx-/);
    expect(first).toMatchObject({ userId: 'u-event-first', deviceId: 'u-event-first-phone', receivedAt: now });
    expect(first.verifiedAt).toBe(Math.max(first.receivedAt, first.confirmedAt));
    expect(earnings.find((e) => e.sourceEventId === done('byClick').id)!.confirmation).toBe(
      `postback:campaign-1:${s.byClick[0].id}`,
    );

    const unverified = await world.query<{ side: string; reason: string; event_id: string; app_id: string }>(
      'SELECT side, reason, event_id, app_id FROM unverified ORDER BY side, event_id',
    );
    expect(unverified).toEqual(
      [
        {
          side: 'confirmation',
          reason: 'no_matching_event',
          event_id: pipeline.v1.Confirmation.decode(nothing.value).eventId,
          app_id: 'test.app',
        },
        { side: 'confirmation', reason: 'no_matching_event', event_id: done('appMismatch').id, app_id: 'other.app' },
        { side: 'confirmation', reason: 'no_matching_event', event_id: done('userMismatch').id, app_id: 'test.app' },
        { side: 'event', reason: 'unconfirmed', event_id: done('unconfirmed').id, app_id: 'test.app' },
        { side: 'event', reason: 'unconfirmed', event_id: done('userMismatch').id, app_id: 'test.app' },
      ].sort((a, b) => (`${a.side} ${a.event_id}` < `${b.side} ${b.event_id}` ? -1 : 1)),
    );
    const dead = await world.readTopic(world.topics.deadLetters, 1);
    expect(dead.map((m) => [String(m.headers!.dlq_topic), String(m.headers!.dlq_reason).split(':')[0]])).toEqual([
      [world.topics.confirmations, 'undecodable'],
    ]);
  });
});

// ads.unverified reads only the deadlines of its range (the last 30 days) and the verifications
// that can match them (decided at most the longest window, 7 days, before the range). Rows put in
// by hand, at the edges the bounds rely on: a 7-day window, an event dated 7 days before its receipt.
describe('ads.unverified', () => {
  const D = 24 * H;
  const now = Date.now();
  const s = (ms: number) => Math.floor(ms / 1000);
  let ch: Awaited<ReturnType<typeof createTestClickhouse>>;
  beforeAll(async () => {
    ch = await createTestClickhouse('unverified');
    await migrateClickhouse(
      { CLICKHOUSE_URL: env.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: ch.name },
      { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/clickhouse') },
    );
  });
  afterAll(async () => {
    await ch?.drop();
  });

  type Case = [
    name: string,
    side: 'event' | 'confirmation',
    deadlineAgoMs: number,
    windowMs: number,
    decided: boolean,
    listed: boolean,
    invalid?: string,
  ];
  const cases: Case[] = [
    ['an event past its deadline, unconfirmed', 'event', H, H, false, true],
    ['an event past its deadline, decided at its receipt', 'event', H, H, true, false],
    ['an event 29 days past the deadline of its 7-day window, unconfirmed', 'event', 29 * D, 7 * D, false, true],
    [
      'an event 29 days past the deadline of its 7-day window, decided at its receipt',
      'event',
      29 * D,
      7 * D,
      true,
      false,
    ],
    ['an event 31 days past its deadline: out of the range', 'event', 31 * D, H, false, false],
    ['an event before its deadline', 'event', -H, H, false, false],
    ['an invalid event', 'event', H, H, false, false, 'click_injection'],
    ['a confirmation past its deadline, unmatched', 'confirmation', H, H, false, true],
    ['a confirmation past its deadline, decided at its receipt', 'confirmation', H, H, true, false],
    [
      'a confirmation 29 days past the deadline of its 7-day window, unmatched',
      'confirmation',
      29 * D,
      7 * D,
      false,
      true,
    ],
    [
      'a confirmation 29 days past the deadline of its 7-day window, decided at its receipt',
      'confirmation',
      29 * D,
      7 * D,
      true,
      false,
    ],
    ['a confirmation 31 days past its deadline: out of the range', 'confirmation', 31 * D, H, false, false],
    ['a confirmation before its deadline', 'confirmation', -H, H, false, false],
  ];
  async function insert() {
    const rows = {
      verification_deadlines: [] as object[],
      confirmations: [] as object[],
      verifications: [] as object[],
    };
    for (const [name, side, agoMs, windowMs, decided, , invalid] of cases) {
      const [verifyBy, id, tx] = [now - agoMs, randomUUID(), `tx-${randomUUID()}`];
      const receivedAt = verifyBy - windowMs;
      if (side === 'event') {
        rows.verification_deadlines.push({
          event_id: id,
          event_type: 'REWARD_COMPLETE',
          app_id: 'a',
          user_id: name,
          campaign_id: 'c',
          event_time: s(receivedAt - 7 * D),
          received_at_ms: receivedAt,
          verify_by_ms: verifyBy,
          invalid_reason: invalid ?? '',
        });
      } else {
        rows.confirmations.push({
          source: 'admob',
          transaction_id: tx,
          app_id: 'a',
          user_id: name,
          campaign_id: '',
          event_id: id,
          click_id: '',
          received_at: s(receivedAt),
          received_at_ms: receivedAt,
          occurred_at: receivedAt,
          key_id: 'k',
          ad_unit: 'u',
          reward_item: 'coins',
          reward_amount: 1,
          value_micros: 0,
          currency: '',
          verify_by_ms: verifyBy,
        });
      }
      if (decided) {
        rows.verifications.push({
          event_id: id,
          event_type: '',
          source: 'admob',
          transaction_id: tx,
          app_id: 'a',
          user_id: name,
          campaign_id: '',
          event_received_at_ms: 0,
          confirmed_at_ms: receivedAt,
          decided_at: s(receivedAt),
          reason: 'already_confirmed',
        });
      }
    }
    for (const [table, values] of Object.entries(rows))
      await ch.client.insert({ table, values, format: 'JSONEachRow' });
  }

  it('lists exactly the unmatched rows whose deadline passed within the last 30 days', async () => {
    await insert();
    const rs = await ch.client.query({ query: 'SELECT side, user_id FROM unverified', format: 'JSONEachRow' });
    const listed = (await rs.json<{ side: string; user_id: string }>()).map((r) => r.user_id).sort();
    expect(listed).toEqual(
      cases
        .filter((c) => c[5])
        .map((c) => c[0])
        .sort(),
    );
  });

  it('reads only the partitions its range needs, on both sides (ClickHouse refuses it otherwise under force_index_by_date)', async () => {
    const rs = await ch.client.query({
      query: 'SELECT count() AS n FROM unverified',
      format: 'JSONEachRow',
      clickhouse_settings: { force_index_by_date: 1 },
    });
    expect((await rs.json<{ n: string }>()).length).toBe(1);
  });
});
