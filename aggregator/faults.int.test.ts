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

const MIN = 60_000;
let world: AggregatorWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

/**
 * `users` users, each: an impression and its completion, a click and its conversion, and the
 * confirmations of both (`confirmations`): 2 earnings each.
 */
function scenario(users: number, t0 = Date.now() - 50 * MIN, sharedDevices = 0) {
  const earners: TestEvent[] = [];
  const beacons = Array.from({ length: users }, (_, i) => {
    // With shared devices, a device's clicks are read by other users' conversions, on other partitions and processes.
    const u = {
      userId: `user-${i}-${t0}`,
      deviceId: sharedDevices ? `device-${i % sharedDevices}-${t0}` : `device-${i}-${t0}`,
    };
    const [done, conversion] = [testEvent('REWARD_COMPLETE', t0 + MIN, u), testEvent('CONVERSION', t0 + 30 * MIN, u)];
    earners.push(done, conversion);
    return [
      acceptedRecord([testEvent('IMPRESSION', t0, u), done]),
      acceptedRecord([testEvent('CLICK', t0 + 2 * MIN, u), conversion]),
    ];
  }).flat();
  return { beacons, confirmations: earners.map((e) => confirmationRecord(e)), earners };
}

/** Every row once; every earning of `earners`, each produced again only as the same record. */
async function expectExactly(w: AggregatorWorld, users: number, earners?: TestEvent[]) {
  expect(await w.count('SELECT count() AS n FROM events')).toBe(users * 4);
  expect(await w.count('SELECT uniqExact(event_id) AS n FROM events')).toBe(users * 4);
  expect(await w.count('SELECT count() AS n FROM attributions')).toBe(users * 2);
  expect(await w.count('SELECT count() AS n FROM verification_deadlines')).toBe(users * 2);
  expect(await w.count('SELECT sum(completions) + sum(conversions) AS n FROM campaign_hourly')).toBe(users * 2);
  expect(await w.count('SELECT count() AS n FROM confirmations')).toBe(users * 2);
  expect(await w.count("SELECT count() AS n FROM verifications WHERE reason = ''")).toBe(users * 2);
  expect(await w.count('SELECT uniqExact(event_id) AS n FROM verifications')).toBe(users * 2);
  const earnings = await w.readTopic(w.topics.earnings, users * 2);
  const byId = new Map<string, string>();
  for (const m of earnings) {
    const id = pipeline.v1.VerifiedEarning.decode(m.value!).earningId;
    expect(byId.get(id) ?? m.value!.toString('hex')).toBe(m.value!.toString('hex')); // produced again: byte for byte
    byId.set(id, m.value!.toString('hex'));
  }
  expect(byId.size).toBe(users * 2);
  if (earners) expect([...byId.keys()].sort()).toEqual(earners.map((e) => earningId(e.id)).sort());
}

describe('aggregator faults', () => {
  it.each([
    ['claimed', 'the same disk'],
    ['logged', 'the same disk'],
    ['inserted', 'the same disk'],
    ['written', 'the same disk'],
    ['committed', 'the same disk'],
    ['logged', 'an empty disk'],
    ['inserted', 'an empty disk'],
  ] as const)(
    'neither loses nor doubles anything when killed right after the %s step and restarted on %s',
    async (step, disk) => {
      world = await createAggregatorWorld({ partitions: 2 });
      const users = 150;
      const { beacons, confirmations, earners } = scenario(users);
      await world.send(beacons);
      await world.confirm(confirmations);
      const crashing = world.spawn({ CRASH_AT: step, CRASH_AFTER: '1' });
      expect(await crashing.exited).toBe('SIGKILL');
      // The same host, or a new one that rebuilds the partitions' state from their changelog.
      await world.start(disk === 'an empty disk' ? { AGGREGATOR_STATE_DIR: world.host('new-host') } : {});
      await world.drained();
      await expectExactly(world, users, earners);
    },
  );

  it.each(['claimed', 'inserted'] as const)(
    're-emits the pairs a crashed step completed, with the same earnings, when killed right after the %s step',
    async (step) => {
      world = await createAggregatorWorld({ partitions: 1 });
      const users = 100;
      const { beacons, confirmations, earners } = scenario(users);
      await world.send(beacons);
      const first = await world.start();
      await world.drained();
      await first.stop();
      // Each confirmation now completes its pair; the process dies after pairing, before its commit.
      await world.confirm(confirmations);
      const crashing = world.spawn({ CRASH_AT: step, CRASH_AFTER: '1' });
      expect(await crashing.exited).toBe('SIGKILL');
      await world.start();
      await world.drained();
      await expectExactly(world, users, earners);
    },
  );

  it.each([
    [0, 'its own'],
    [10, 'one shared'],
  ])(
    'splits the partitions between two processes, through rebalances mid-stream, with the totals of one (%i devices shared by the users; 0: one each; each process with %s state directory)',
    async (devices, disk) => {
      world = await createAggregatorWorld({ partitions: 4 });
      const waves = [
        scenario(100, Date.now() - 55 * MIN, devices),
        scenario(100, Date.now() - 54 * MIN, devices),
        scenario(100, Date.now() - 53 * MIN, devices),
      ];
      const send = async (wave: ReturnType<typeof scenario>) => {
        await world!.send(wave.beacons);
        await world!.confirm(wave.confirmations);
      };
      const first = await world.start();
      await send(waves[0]!);
      // Joins the group: partitions move. On one host's shared directory each is handed over with its disk.
      const second = world.spawn(disk === 'its own' ? { AGGREGATOR_STATE_DIR: world.host('host-1') } : {});
      await sleep(4_000);
      await send(waves[1]!);
      await sleep(2_000);
      await first.stop(); // leaves: its partitions move to the other process
      await send(waves[2]!);
      await world.drained();
      await expectExactly(
        world,
        300,
        waves.flatMap((w) => w.earners),
      );
      const firstInserted = (
        await first.metrics.registry.getSingleMetric('aggregator_events_total')!.get()
      ).values.find((v) => v.labels.outcome === 'inserted')!.value;
      expect(firstInserted).toBeGreaterThan(0);
      expect(firstInserted).toBeLessThan(1_200); // the other process did the rest
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    },
  );
});
