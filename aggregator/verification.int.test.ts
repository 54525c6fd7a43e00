// The join of rewardable events and their confirmations on the real stack: only a confirmed, valid,
// attributed event of the confirming app and user, confirmed in time, earns, once; everything else
// is recorded with its reason (ads.verifications, ads.unverified).
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipeline } from '../schemas/gen/messages.js';
import { earningId } from '../schemas/records.js';
import { acceptedRecord, confirmationRecord, createAggregatorWorld, testEvent, type AggregatorWorld, type TestEvent } from './test-support.js';

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
      userMismatch: completion('u-user'),
      late: completion('u-late', now - 2 * H),
      unconfirmed: completion('u-unconfirmed', now - 2 * H),
      byClick: conversion('u-by-click'),
      foreign: completion('u-foreign', now, { campaignId: 'campaign-foreign' }),
      shortWindow: completion('u-short', now - 90_000, { campaignId: 'campaign-short' }),
      owned: completion('u-owned', now, { campaignId: 'campaign-owned' }),
      otherCampaign: conversion('u-other-campaign'),
    };
    const beacons = (k: keyof typeof s, receivedAt = now) => acceptedRecord(s[k], { receivedAt });
    const done = (k: keyof typeof s) => s[k][1];
    const duplicate = confirmationRecord(done('duplicated'));
    const nothing = confirmationRecord(undefined, { eventId: randomUUID(), userId: 'u-nothing', receivedAt: now - 2 * H });
    const byClick = confirmationRecord(done('byClick'), { eventId: '', clickId: s.byClick[0].id });
    const undecodable = { key: 'u-poison', value: Buffer.from('not a confirmation \u00ff') };

    await world.start();
    // First: these events, and the confirmations that come before their events.
    await world.send([
      beacons('eventFirst'), beacons('duplicated'), beacons('appMismatch'), beacons('userMismatch'), beacons('late', now - 2 * H),
      beacons('unconfirmed', now - 2 * H), beacons('foreign'), beacons('shortWindow', now - 90_000), beacons('owned'), beacons('otherCampaign'),
    ]);
    await world.confirm([confirmationRecord(done('confirmationFirst')), nothing, byClick, undecodable]);
    await world.drained();
    // Then the other sides.
    await world.send([beacons('confirmationFirst'), beacons('byClick')]);
    await world.confirm([
      confirmationRecord(done('eventFirst')), duplicate, duplicate, duplicate,
      confirmationRecord(done('appMismatch'), { appId: 'other.app' }),
      confirmationRecord(done('userMismatch'), { userId: 'u-someone-else' }),
      confirmationRecord(done('late'), { receivedAt: now }),
      confirmationRecord(done('foreign')),
      confirmationRecord(done('shortWindow'), { receivedAt: now }), // 90 s after: past its campaign's 60 s
      confirmationRecord(done('owned')),
      confirmationRecord(done('otherCampaign'), { campaignId: 'campaign-2' }),
    ]);
    await world.drained();

    const reasons = new Map((await world.query<{ event_id: string; reason: string }>('SELECT event_id, reason FROM verifications')).map((r) => [r.event_id, r.reason]));
    const expected: [keyof typeof s, string][] = [
      ['eventFirst', ''], ['confirmationFirst', ''], ['duplicated', ''], ['byClick', ''], ['owned', ''],
      ['appMismatch', 'app_mismatch'], ['userMismatch', 'user_mismatch'], ['late', 'confirmation_late'],
      ['foreign', 'campaign_not_in_app'], ['shortWindow', 'confirmation_late'], ['otherCampaign', 'campaign_mismatch'],
    ];
    expect(reasons).toEqual(new Map(expected.map(([k, reason]) => [done(k).id, reason])));
    expect(await world.count('SELECT count() AS n FROM confirmations')).toBe(expected.length + 1); // and the one naming nothing
    expect(await world.count("SELECT count() AS n FROM events WHERE invalid_reason = 'campaign_not_in_app'")).toBe(2);

    const earnings = (await world.readTopic(world.topics.earnings, 5)).map((m) => pipeline.v1.VerifiedEarning.decode(m.value!));
    const earners = expected.filter(([, reason]) => reason === '').map(([k]) => done(k));
    expect(earnings.map((e) => e.earningId).sort()).toEqual(earners.map((e) => earningId(e.id)).sort());
    const first = earnings.find((e) => e.sourceEventId === done('eventFirst').id)!;
    expect(first.confirmation).toMatch(/^admob:tx-/);
    expect(first).toMatchObject({ userId: 'u-event-first', deviceId: 'u-event-first-phone', receivedAt: now });
    expect(first.verifiedAt).toBe(Math.max(first.receivedAt, first.confirmedAt));
    expect(earnings.find((e) => e.sourceEventId === done('byClick').id)!.confirmation).toBe(`postback:campaign-1:${s.byClick[0].id}`);

    const unverified = await world.query<{ side: string; reason: string; event_id: string }>('SELECT side, reason, event_id FROM unverified ORDER BY side');
    expect(unverified).toEqual([
      { side: 'confirmation', reason: 'no_matching_event', event_id: pipeline.v1.Confirmation.decode(nothing.value).eventId },
      { side: 'event', reason: 'unconfirmed', event_id: done('unconfirmed').id },
    ]);
    const dead = await world.readTopic(world.topics.deadLetters, 1);
    expect(dead.map((m) => [String(m.headers!.dlq_topic), String(m.headers!.dlq_reason).split(':')[0]])).toEqual([[world.topics.confirmations, 'undecodable']]);
  });
});
