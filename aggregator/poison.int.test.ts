import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { pipeline } from '../schemas/gen/messages.js';
import { earningId } from '../schemas/records.js';
import {
  acceptedRecord,
  confirmationRecord,
  createAggregatorWorld,
  testEvent,
  type AggregatorWorld,
  type TestEvent,
} from './test-support.js';

let world: AggregatorWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

const MIN = 60_000;

async function until(probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await probe()); await sleep(100)) {
    if (Date.now() > deadline) throw new Error('timed out');
  }
}

describe('aggregator and poison', () => {
  it('dead-letters a record the reader refuses and one its table cannot store, and the records around them land', async () => {
    world = await createAggregatorWorld({ partitions: 1 });
    const t0 = Date.now() - 10 * MIN;
    const before = testEvent('IMPRESSION', t0, { userId: 'u-before' });
    const nul = testEvent('IMPRESSION', t0, { userId: 'u\u0000nul' }); // Postgres could never key its earning
    const negative = testEvent('IMPRESSION', t0, { userId: 'u-negative' }); // occurred_at is UInt64 in ads.events: refused as the row is encoded
    const after = testEvent('IMPRESSION', t0, { userId: 'u-after' });
    const records = [
      acceptedRecord([before]),
      acceptedRecord([nul]),
      acceptedRecord([negative]),
      acceptedRecord([after]),
    ];
    const decoded = pipeline.v1.AcceptedBeacons.decode(records[2]!.value);
    decoded.events[0]!.event!.occurredAt = -5;
    records[2]!.value = Buffer.from(pipeline.v1.AcceptedBeacons.encode(decoded).finish());
    await world.send(records);
    const agg = await world.start();
    await world.drained(undefined, 30_000); // offsets committed past the poison

    const users = await world.query<{ user_id: string }>('SELECT user_id FROM events ORDER BY user_id');
    expect(users.map((r) => r.user_id)).toEqual(['u-after', 'u-before']);
    const dead = await world.readTopic(world.topics.deadLetters, 2);
    const reasons = new Map(dead.map((m) => [m.key!.toString(), m.headers?.dlq_reason?.toString()]));
    expect(reasons).toEqual(
      new Map([
        [nul.userId, 'invalid_text: event 0 user_id: nul'],
        ['u-negative', 'unstorable_value: events.occurred_at: -5 is not a UInt64'],
      ]),
    );
    expect((await fetch(`http://127.0.0.1:${agg.port}/readyz`)).status).toBe(200);
    const failures = (await agg.metrics.registry.getSingleMetric('aggregator_consumer_failures_total')!.get()).values;
    expect(failures.find((v) => v.labels.kind === 'poison')?.value).toBe(2);
  });

  it('pays nothing for a confirmed completion whose row cannot be stored, and nothing for a copy of it, while the confirmed one beside it earns once', async () => {
    world = await createAggregatorWorld({ partitions: 1 });
    const now = Date.now();
    const shown = (userId: string): [TestEvent, TestEvent] => [
      testEvent('IMPRESSION', now - 5 * MIN, { userId }),
      testEvent('REWARD_COMPLETE', now - 2 * MIN, { userId }),
    ];
    const [badImpression, badCompletion] = shown('u-unstorable');
    const [goodImpression, goodCompletion] = shown('u-fine');
    // The confirmations are decided first, so each pair completes in its event's step.
    await world.confirm([confirmationRecord(badCompletion), confirmationRecord(goodCompletion)]);
    const agg = await world.start();
    await world.drained();
    const bad = acceptedRecord([badCompletion]);
    const decoded = pipeline.v1.AcceptedBeacons.decode(bad.value);
    decoded.events[0]!.event!.occurredAt = -5; // ads.events.occurred_at is a UInt64
    bad.value = Buffer.from(pipeline.v1.AcceptedBeacons.encode(decoded).finish());
    await world.send([
      acceptedRecord([badImpression]),
      acceptedRecord([goodImpression]),
      bad,
      acceptedRecord([goodCompletion]),
    ]);
    await world.drained();
    await world.send([bad]); // the same record again: its event id is claimed, so a duplicate
    await world.drained();

    const earnings = (await world.readTopic(world.topics.earnings, 2, 3_000)).map((m) =>
      pipeline.v1.VerifiedEarning.decode(m.value!),
    );
    expect(earnings.map((e) => e.earningId)).toEqual([earningId(goodCompletion.id)]);
    const dead = await world.readTopic(world.topics.deadLetters, 2, 3_000);
    expect(dead.map((m) => m.headers?.dlq_reason?.toString())).toEqual([
      'unstorable_value: events.occurred_at: -5 is not a UInt64',
    ]);
    expect(await world.count(`SELECT count() AS n FROM events WHERE event_id = '${badCompletion.id}'`)).toBe(0);
    expect((await fetch(`http://127.0.0.1:${agg.port}/readyz`)).status).toBe(200);
  });

  it('shows a write that keeps failing in /readyz and a metric, and recovers when the fault clears', async () => {
    world = await createAggregatorWorld({ partitions: 1, env: { AGGREGATOR_STALL_AFTER_FAILURES: '2' } });
    const agg = await world.start();
    const readyz = async () => (await fetch(`http://127.0.0.1:${agg.port}/readyz`)).status;
    const stalled = async () =>
      (await agg.metrics.registry.getSingleMetric('aggregator_consumer_stalled')!.get()).values[0]!.value;
    await until(async () => (await readyz()) === 200);
    // A deploy that has not created the table yet: an unknown table is retried, never dead-lettered.
    await world.ch.client.command({ query: 'RENAME TABLE events TO events_moved' });
    await world.send([acceptedRecord([testEvent('IMPRESSION', Date.now() - MIN, { userId: 'u-waiting' })])]);
    await until(async () => (await readyz()) === 503);
    expect(await stalled()).toBe(1);

    await world.ch.client.command({ query: 'RENAME TABLE events_moved TO events' });
    await world.drained(undefined, 60_000);
    await until(async () => (await readyz()) === 200);
    expect(await stalled()).toBe(0);
    expect(await world.count("SELECT count() AS n FROM events WHERE user_id = 'u-waiting'")).toBe(1);
    expect(await world.readTopic(world.topics.deadLetters, 1, 2_000)).toEqual([]);
  }, 90_000);
});
