import { afterEach, describe, expect, it } from 'vitest';
import { createRewardsWorld, testEarning, type RewardsWorld } from './test-support.js';

let world: RewardsWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

/** 600 earnings of 10 fen over 60 users and 2 campaigns (batches of 50, so a crash lands mid-stream). */
async function scenario(w: RewardsWorld) {
  await w.rule('c1', { complete: 10, conversion: 10 });
  await w.rule('c2', { complete: 10, conversion: 10 });
  await w.fund('c1', 1_000_000);
  await w.fund('c2', 1_000_000);
  const earnings = Array.from({ length: 600 }, (_, i) => testEarning(`user-${i % 60}`, i % 2 ? 'c1' : 'c2'));
  await w.send(earnings);
  return earnings;
}

async function expectExactlyOnce(w: RewardsWorld, earnings: number) {
  const {
    rows: [r],
  } = await w.pool.query<{ posted: string; credited: string; rewards: string }>(
    "select count(*) filter (where status = 'posted') as posted, (select sum(credits - debits) from accounts where type = 'user_available') as credited, (select count(*) from postings where reference is not null) as rewards from earnings",
  );
  expect(r).toEqual({ posted: String(earnings), credited: String(earnings * 10), rewards: String(earnings) });
  expect(await w.audit()).toEqual([]);
}

describe('rewards faults', () => {
  it.each(['posted', 'committed'] as const)(
    'neither loses nor doubles an earning when killed right after a batch is %s',
    async (step) => {
      world = await createRewardsWorld({ partitions: 2, env: { REWARDS_BATCH_MAX: '50' } });
      const earnings = await scenario(world);
      const crashing = world.spawn({ CRASH_AT: step, CRASH_AFTER: '3' });
      expect(await crashing.exited).toBe('SIGKILL');
      await world.start();
      await world.drained();
      await expectExactlyOnce(world, earnings.length);
    },
  );

  it('neither loses nor doubles an earning when two processes share the topic and one is killed', async () => {
    world = await createRewardsWorld({ partitions: 4, env: { REWARDS_BATCH_MAX: '25' } });
    const survivor = await world.start();
    const victim = world.spawn({ CRASH_AT: 'posted', CRASH_AFTER: '5' });
    await world.members(2);
    const earnings = await scenario(world);
    expect(await victim.exited).toBe('SIGKILL');
    await world.drained(undefined, 90_000);
    await expectExactlyOnce(world, earnings.length);
    expect(survivor.port).toBeGreaterThan(0);
  }, 120_000);
});
