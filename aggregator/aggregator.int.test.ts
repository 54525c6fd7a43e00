import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pipeline } from '../schemas/gen/messages.js';
import {
  acceptedRecord,
  confirmationRecord,
  createAggregatorWorld,
  testEvent,
  type AggregatorWorld,
  type TestEvent,
} from './test-support.js';

const MIN = 60_000;
let world: AggregatorWorld;
beforeEach(async () => {
  world = await createAggregatorWorld();
});
afterEach(async () => {
  await world.stop();
});

/** Records of up to `size` events, each record one user's. */
function records(events: TestEvent[], size = 5) {
  const byUser = new Map<string, TestEvent[]>();
  for (const e of events) byUser.set(e.userId, [...(byUser.get(e.userId) ?? []), e]);
  return [...byUser.values()].flatMap((list) =>
    Array.from({ length: Math.ceil(list.length / size) }, (_, i) =>
      acceptedRecord(list.slice(i * size, (i + 1) * size)),
    ),
  );
}

describe('aggregator on the real stack', () => {
  it('counts every event and confirmation exactly once with 30 % duplicates from SDK retries, replays, network retries and a full redelivery', async () => {
    const t0 = Date.now() - 50 * MIN;
    const types = [
      'IMPRESSION',
      'IMPRESSION',
      'IMPRESSION',
      'VIEWABLE',
      'CLICK',
      'REWARD_COMPLETE',
      'CONVERSION',
    ] as const;
    const events = Array.from({ length: 1_400 }, (_, i) =>
      testEvent(types[i % types.length]!, t0 + i * 1_000, { campaignId: `campaign-${i % 3}` }),
    );
    const original = records(events);
    const retried = records(
      events.filter((_, i) => i % 7 === 0),
      3,
    ); // same event ids in new requests
    const replayed = original.filter((_, i) => i % 7 === 3); // the same request bytes again
    // Every rewardable event confirmed by its ad network or advertiser; a third of the callbacks retried.
    const rewardable = events.filter((e) => e.type === 'REWARD_COMPLETE' || e.type === 'CONVERSION');
    const confirmations = rewardable.map((e) => confirmationRecord(e));
    const first = await world.start();
    await world.send(original);
    await world.confirm(confirmations);
    await world.send([...retried, ...replayed]);
    await world.confirm(confirmations.filter((_, i) => i % 3 === 0));
    await world.drained();

    const expectTotals = async () => {
      expect(await world.count('SELECT count() AS n FROM events')).toBe(events.length);
      expect(await world.count('SELECT uniqExact(event_id) AS n FROM events')).toBe(events.length);
      const hourly = await world.query<Record<string, string>>(
        'SELECT sum(impressions) AS impressions, sum(viewables) AS viewables, sum(clicks) AS clicks, sum(completions) AS completions, sum(conversions) AS conversions FROM campaign_hourly',
      );
      const byType = (t: string) => String(events.filter((e) => e.type === t).length);
      expect(hourly[0]).toEqual({
        impressions: byType('IMPRESSION'),
        viewables: byType('VIEWABLE'),
        clicks: byType('CLICK'),
        completions: byType('REWARD_COMPLETE'),
        conversions: byType('CONVERSION'),
      });
      const users = await world.count(`SELECT sum(users) AS n FROM campaign_hourly`);
      expect(users).toBe(
        await world.count(
          'SELECT count() AS n FROM (SELECT DISTINCT toStartOfHour(event_time), campaign_id, user_id FROM events)',
        ),
      );
    };
    await expectTotals();
    const attributions = await world.count('SELECT count() AS n FROM attributions');
    expect(attributions).toBeGreaterThan(0);
    const earned = await world.count("SELECT count() AS n FROM attributions WHERE invalid_reason = ''");
    const expectJoin = async () => {
      expect(await world.count('SELECT count() AS n FROM confirmations')).toBe(rewardable.length);
      expect(await world.count('SELECT count() AS n FROM verifications')).toBe(rewardable.length);
      expect(await world.count('SELECT uniqExact(event_id) AS n FROM verifications')).toBe(rewardable.length);
      expect(await world.count("SELECT count() AS n FROM verifications WHERE reason = ''")).toBe(earned);
      expect(await world.count('SELECT count() AS n FROM verification_deadlines')).toBe(attributions);
    };
    await expectJoin();

    // A second group reads the whole topic again, on another host that rebuilds the state from its
    // changelog: every record is a redelivery of itself.
    await first.stop();
    const again = await world.start({
      AGGREGATOR_GROUP: `${world.env.AGGREGATOR_GROUP}_again`,
      AGGREGATOR_STATE_DIR: world.host('host-1'),
    });
    await world.drained(`${world.env.AGGREGATOR_GROUP}_again`);
    await expectTotals();
    expect(await world.count('SELECT count() AS n FROM attributions')).toBe(attributions);
    await expectJoin();
    expect(
      (await again.metrics.registry.getSingleMetric('aggregator_events_total')!.get()).values.find(
        (v) => v.labels.outcome === 'inserted',
      )?.value,
    ).toBe(0);

    const earnings = await world.readTopic(world.topics.earnings, earned);
    const ids = new Set(earnings.map((m) => pipeline.v1.VerifiedEarning.decode(m.value!).earningId));
    expect(ids.size).toBe(earned);
  });

  it('attributes a hand-built scenario exactly as expected', async () => {
    const t0 = Date.now() - 3 * 3_600_000;
    const u = (userId: string, deviceId = `${userId}-phone`) => ({ userId, deviceId });
    const imp1 = testEvent('IMPRESSION', t0, u('alice'));
    const click1 = testEvent('CLICK', t0 + MIN, u('alice'));
    const conv1 = testEvent('CONVERSION', t0 + 20 * MIN, { ...u('alice'), valueMicros: 990_000 }); // -> click1, 19 min
    const imp2 = testEvent('IMPRESSION', t0, { ...u('bob'), creativeId: 'creative-2' });
    const done2 = testEvent('REWARD_COMPLETE', t0 + 5 * MIN, { ...u('bob'), creativeId: 'creative-2' }); // -> imp2, verified
    const done3 = testEvent('REWARD_COMPLETE', t0 + 50 * MIN, { ...u('bob'), creativeId: 'creative-2' }); // too late: nothing
    const view4 = testEvent('VIEWABLE', t0, u('carol'));
    const conv4 = testEvent('CONVERSION', t0 + 60 * MIN, u('carol')); // -> view4, view-through
    const click5 = testEvent('CLICK', t0, u('dave'));
    const conv5 = testEvent('CONVERSION', t0 + 5_000, u('dave')); // -> click5, but click injection
    const click6 = testEvent('CLICK', t0, u('erin'));
    const conv6 = testEvent('CONVERSION', t0 + MIN, { ...u('frank'), clickId: click6.id }); // erin's click: flagged
    const late7 = testEvent('CONVERSION', t0 + 30 * MIN, u('gina'));
    const click7 = testEvent('CLICK', t0 + 10 * MIN, u('gina')); // arrives after the conversion it preceded

    await world.start();
    // Each record once the ones before it are processed: one user's records share a partition and
    // stay in order, but erin's click and frank's conversion would otherwise race on two partitions.
    for (const batch of [
      [imp1, click1],
      [conv1],
      [imp2, done2, done3],
      [view4, conv4],
      [click5, conv5],
      [click6],
      [conv6],
      [late7],
      [click7],
    ]) {
      await world.send([acceptedRecord(batch)]);
      await world.drained();
    }
    // Confirmed by their networks and advertisers, except conv6 and late7.
    await world.confirm([conv1, done2, done3, conv4, conv5].map((e) => confirmationRecord(e)));
    await world.drained();

    const rows = await world.query<Record<string, string | number>>(
      'SELECT event_id, attributed_to, model, toString(lag_ms) AS lag_ms, invalid_reason FROM attributions ORDER BY event_id',
    );
    const expected = [
      { event_id: conv1.id, attributed_to: click1.id, model: 'click', lag_ms: String(19 * MIN), invalid_reason: '' },
      { event_id: done2.id, attributed_to: imp2.id, model: 'view', lag_ms: String(5 * MIN), invalid_reason: '' },
      { event_id: conv4.id, attributed_to: view4.id, model: 'view', lag_ms: String(60 * MIN), invalid_reason: '' },
      {
        event_id: conv5.id,
        attributed_to: click5.id,
        model: 'click',
        lag_ms: '5000',
        invalid_reason: 'click_injection',
      },
    ].sort((a, b) => a.event_id.localeCompare(b.event_id));
    expect(rows).toEqual(expected);
    const flagged = await world.query<{ event_id: string; invalid_reason: string }>(
      "SELECT event_id, invalid_reason FROM events WHERE invalid_reason != '' ORDER BY event_id",
    );
    expect(flagged).toEqual(
      [
        { event_id: conv5.id, invalid_reason: 'click_injection' },
        { event_id: conv6.id, invalid_reason: 'click_id_other_user' },
      ].sort((a, b) => a.event_id.localeCompare(b.event_id)),
    );

    const earnings = (await world.readTopic(world.topics.earnings, 3)).map((m) =>
      pipeline.v1.VerifiedEarning.decode(m.value!),
    );
    expect(earnings.map((e) => e.sourceEventId).sort()).toEqual([conv1.id, done2.id, conv4.id].sort());
    const reasons = await world.query<{ event_id: string; reason: string }>(
      'SELECT event_id, reason FROM verifications ORDER BY event_id',
    );
    expect(reasons).toEqual(
      [
        { event_id: conv1.id, reason: '' },
        { event_id: done2.id, reason: '' },
        { event_id: done3.id, reason: 'not_attributed' },
        { event_id: conv4.id, reason: '' },
        { event_id: conv5.id, reason: 'click_injection' },
      ].sort((a, b) => a.event_id.localeCompare(b.event_id)),
    );
    const hourly = await world.query<{ conversions: string; revenue_micros: string }>(
      'SELECT sum(conversions) AS conversions, sum(revenue_micros) AS revenue_micros FROM campaign_hourly',
    );
    expect(hourly[0]).toEqual({ conversions: '3', revenue_micros: '990000' }); // conv1, conv4, late7 (valid, unattributed)
  });

  it('dead-letters poison records with their reason without stalling the partition', async () => {
    await world.start();
    const good = testEvent('IMPRESSION', Date.now() - MIN, { userId: 'poison-neighbour' });
    const key = 'poison-neighbour'; // the same partition as the good records around the poison
    await world.send([
      { key, value: Buffer.from('not a protobuf at all \u00ff\u00fe') },
      { key, value: acceptedRecord([testEvent('CLICK', Date.now())], { version: 2 }).value },
      { key, value: acceptedRecord([{ ...testEvent('CLICK', Date.now()), userId: '' }]).value },
      acceptedRecord([good]),
    ]);
    await world.drained();
    expect(await world.count(`SELECT count() AS n FROM events WHERE event_id = '${good.id}'`)).toBe(1);
    const dead = await world.readTopic(world.topics.deadLetters, 3);
    expect(dead.map((m) => String(m.headers!.dlq_reason)).map((r) => r.split(':')[0])).toEqual([
      'undecodable',
      'unknown_version',
      'invalid_event',
    ]);
    expect(dead.every((m) => String(m.headers!.dlq_topic) === world.topics.beacons)).toBe(true);
  });
});
