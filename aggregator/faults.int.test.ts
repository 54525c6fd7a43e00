import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { pipeline } from '../schemas/gen/messages.js';
import { acceptedRecord, createAggregatorWorld, testEvent, type AggregatorWorld } from './test-support.js';

const MIN = 60_000;
let world: AggregatorWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

/** `users` users, each: an impression and its verified completion, a click and its conversion: 2 earnings each. */
function scenario(users: number, t0 = Date.now() - 50 * MIN) {
  return Array.from({ length: users }, (_, i) => {
    const u = { userId: `user-${i}-${t0}`, deviceId: `device-${i}-${t0}` };
    return [
      acceptedRecord([testEvent('IMPRESSION', t0, u), testEvent('REWARD_COMPLETE', t0 + MIN, u)]),
      acceptedRecord([testEvent('CLICK', t0 + 2 * MIN, u), testEvent('CONVERSION', t0 + 30 * MIN, u)]),
    ];
  }).flat();
}

async function expectExactly(w: AggregatorWorld, users: number) {
  expect(await w.count('SELECT count() AS n FROM events')).toBe(users * 4);
  expect(await w.count('SELECT uniqExact(event_id) AS n FROM events')).toBe(users * 4);
  expect(await w.count('SELECT count() AS n FROM attributions')).toBe(users * 2);
  expect(await w.count('SELECT sum(completions) + sum(conversions) AS n FROM campaign_hourly')).toBe(users * 2);
  const earnings = await w.readTopic(w.topics.earnings, users * 2);
  expect(new Set(earnings.map((m) => pipeline.v1.VerifiedEarning.decode(m.value!).earningId)).size).toBe(users * 2);
}

describe('aggregator faults', () => {
  it.each(['claimed', 'inserted', 'written', 'committed'] as const)('neither loses nor doubles anything when killed right after the %s step', async (step) => {
    world = await createAggregatorWorld({ partitions: 2 });
    const users = 150;
    await world.send(scenario(users));
    const crashing = world.spawn({ CRASH_AT: step, CRASH_AFTER: '1' });
    expect(await crashing.exited).toBe('SIGKILL');
    await world.start();
    await world.drained();
    await expectExactly(world, users);
  });

  it('splits the partitions between two processes, through rebalances mid-stream, with the totals of one', async () => {
    world = await createAggregatorWorld({ partitions: 4 });
    const waves = [scenario(100, Date.now() - 55 * MIN), scenario(100, Date.now() - 54 * MIN), scenario(100, Date.now() - 53 * MIN)];
    const first = await world.start();
    await world.send(waves[0]!);
    const second = world.spawn(); // joins the group: partitions move
    await sleep(4_000);
    await world.send(waves[1]!);
    await sleep(2_000);
    await first.stop(); // leaves: its partitions move to the other process
    await world.send(waves[2]!);
    await world.drained();
    await expectExactly(world, 300);
    const firstInserted = (await first.metrics.registry.getSingleMetric('aggregator_events_total')!.get()).values.find((v) => v.labels.outcome === 'inserted')!.value;
    expect(firstInserted).toBeGreaterThan(0);
    expect(firstInserted).toBeLessThan(1_200); // the other process did the rest
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
