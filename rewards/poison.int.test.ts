import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { consumeTopic } from '../test/support.js';
import { createRewardsWorld, person, testEarning, type RewardsWorld } from './test-support.js';

let world: RewardsWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

const readyz = async (port: number) => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
const metric = async (
  service: { metrics: { registry: { getSingleMetric(name: string): unknown } } },
  name: string,
  labels: Record<string, string> = {},
) => {
  const m = service.metrics.registry.getSingleMetric(name) as
    { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> } | undefined;
  return (await m!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
};

async function until(probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await probe()); await sleep(100)) {
    if (Date.now() > deadline) throw new Error('timed out');
  }
}

describe('rewards consumer and poison', () => {
  it('dead-letters a record the reader refuses and one only Postgres refuses, posting the earnings around them', async () => {
    world = await createRewardsWorld({ partitions: 1 });
    await world.rule('c1', { complete: 10, conversion: 10 });
    await world.fund('c1', 10_000);
    const before = testEarning('u-before', 'c1');
    // Too long for an index row (SQLSTATE 54000): nothing before Postgres knows; random, so it does not compress.
    const tooLong = testEarning(randomBytes(6_000).toString('base64'), 'c1');
    const nul = testEarning('u\u0000nul', 'c1'); // Postgres text cannot hold NUL (22021): refused by the reader
    const after = testEarning('u-after', 'c1');
    await world.send([before, tooLong, nul, after]);
    const service = await world.start();
    await world.drained(undefined, 30_000); // offsets committed past the poison

    const posted = (
      await world.pool.query<{ user_id: string }>(
        "select user_id from earnings where status = 'posted' order by user_id",
      )
    ).rows;
    expect(posted.map((r) => r.user_id)).toEqual([person('u-after'), person('u-before')]);
    const dead = await consumeTopic(world.kafka, world.topics.deadLetters, {
      enough: (m) => m.length >= 2,
      timeoutMs: 10_000,
      settleMs: 300,
    });
    const reasons = new Map(dead.map((d) => [d.message.key!.toString(), d.message.headers?.dlq_reason?.toString()]));
    expect(reasons).toEqual(
      new Map([
        [nul.userId, 'invalid_text: user_id: nul'],
        [tooLong.userId, expect.stringMatching(/^sqlstate_54000: /)],
      ]),
    );
    expect(await readyz(service.port)).toBe(200);
    expect(await metric(service, 'rewards_consumer_failures_total', { kind: 'poison' })).toBe(2);
    expect(await metric(service, 'rewards_consumer_stalled')).toBe(0);
    expect(await world.audit()).toEqual([]);
  });

  it('shows a consumer that keeps failing in /readyz and a metric, and recovers when the fault clears', async () => {
    world = await createRewardsWorld({ partitions: 1, env: { REWARDS_STALL_AFTER_FAILURES: '2' } });
    await world.rule('c1', { complete: 10, conversion: 10 });
    await world.fund('c1', 10_000);
    const service = await world.start();
    await until(async () => (await readyz(service.port)) === 200);
    // A deploy whose migration has not run yet: an undefined table is retried, never dead-lettered.
    await world.pool.query('alter table earnings rename to earnings_moved');
    await world.send([testEarning('u1', 'c1')]);
    await until(async () => (await readyz(service.opsPort)) === 503);
    expect(await readyz(service.port)).toBe(200); // the API still serves users
    expect(await metric(service, 'rewards_consumer_stalled')).toBe(1);
    expect(await metric(service, 'rewards_consumer_failures_total', { kind: 'retriable' })).toBeGreaterThanOrEqual(2);

    await world.pool.query('alter table earnings_moved rename to earnings');
    await world.drained(undefined, 60_000);
    await until(async () => (await readyz(service.opsPort)) === 200);
    expect(await metric(service, 'rewards_consumer_stalled')).toBe(0);
    expect(
      (await world.pool.query("select 1 from earnings where user_id = $1 and status = 'posted'", [person('u1')]))
        .rowCount,
    ).toBe(1);
    expect(await metric(service, 'rewards_consumer_failures_total', { kind: 'poison' })).toBe(0);
  }, 90_000);
});
