// End to end: generated traffic with a ground truth computed from the traffic alone (stack/traffic.ts),
// the ad networks' and advertisers' confirmations (the simulator) and attackers' attempts included,
// through every service as its own process, against ClickHouse, the ledger and the sandbox; then the
// same while services are SIGKILLed at random moments and the sandbox misbehaves; and again while the
// stack's servers (Kafka, Redis, Postgres, ClickHouse) crash and come back.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Tally } from '../stack/drive.js';
import type { ServiceName } from '../stack/supervisor.js';
import { expect as groundTruth, generate, person, type Expected, type Scenario } from '../stack/traffic.js';
import { createPipelineWorld, type PipelineWorld } from './pipeline-world.js';
import { killStackServer, stackOwned, stackUp, type StackServer } from './support.js';

let world: PipelineWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

async function playAndSettle(
  w: PipelineWorld,
  s: Scenario,
  keys: Awaited<ReturnType<PipelineWorld['driver']['setup']>>,
  opts: { spreadMs?: number; onPlayed?(): void } = {},
): Promise<Tally> {
  const tally = await w.driver.play(s, keys, opts);
  opts.onPlayed?.();
  await w.driver.drained(180_000);
  await w.driver.payoutsSettled(s, 180_000);
  return tally;
}

/** Everything the pipeline holds for `s`, against the ground truth. */
async function verify(w: PipelineWorld, s: Scenario, truth: Expected) {
  await w.ready(); // a service killed last may still be restarting
  const seen = await w.driver.observe(s);
  expect(seen.rows).toEqual(truth.rows);
  expect(seen.campaigns).toEqual(truth.campaigns);
  expect([...seen.attributions.keys()].sort()).toEqual([...truth.attributions.keys()].sort());
  for (const [id, a] of truth.attributions) {
    const got = seen.attributions.get(id)!;
    expect({ id, to: got.to, model: got.model, invalid: got.invalid }).toEqual({
      id,
      to: a.to,
      model: a.model,
      invalid: a.invalid,
    });
    expect(Math.abs(got.lagMs - a.lagMs)).toBeLessThan(2_000); // skew correction moves each request by its network delay
  }
  expect(seen.earnings).toEqual(truth.earnings);
  // Only what a network or advertiser confirmed earns; every attacker's attempt earns nothing.
  expect(seen.confirmations).toEqual({
    recorded: truth.confirmations.recorded,
    matched: truth.confirmations.matched,
    noMatch: truth.confirmations.noMatch,
  });
  expect(seen.unconfirmed).toBe(truth.unconfirmed);
  expect(seen.forged).toEqual(Object.fromEntries([...truth.forged].map(([kind, f]) => [kind, f.refused])));

  // Every fen: earned = available + held + paid out; who is paid, who waits for review, who is not linked.
  let paidOut = 0;
  for (const u of s.users) {
    const who = person(s, u);
    const reward = truth.rewards.get(who) ?? 0;
    const b = seen.balances.get(who) ?? { available: 0, held: 0, paid_out: 0 };
    paidOut += b.paid_out;
    const where = { user: who, kind: u.kind, linked: u.linked };
    expect({ ...where, total: b.available + b.held + b.paid_out }).toEqual({ ...where, total: reward });
    if (!u.linked || reward < s.threshold)
      expect({ ...where, ...b }).toEqual({ ...where, available: reward, held: 0, paid_out: 0 });
    else if (truth.flagged.has(who))
      expect({ ...where, paid: b.paid_out, reviewed: b.held >= s.threshold }).toEqual({
        ...where,
        paid: 0,
        reviewed: true,
      });
    else expect({ ...where, held: b.held, paid: b.paid_out >= s.threshold }).toEqual({ ...where, held: 0, paid: true });
  }
  expect(seen.payouts.paid?.fen ?? 0).toBe(paidOut);
  expect((await w.driver.sandboxState()).paidFen).toBe(paidOut);

  await w.driver.faults({ billsAtOnce: true });
  const reconciled = await w.driver.reconcile();
  expect(reconciled).toMatchObject({ ok: true, out: expect.stringMatching(/ 0 unexplained$/) });
  const audited = await w.driver.audit();
  expect(audited.ok, audited.out).toBe(true);
}

describe('the whole pipeline', () => {
  it('ends with exactly the ground truth in ClickHouse, the ledger and the sandbox', async () => {
    world = await createPipelineWorld();
    const now = Date.now();
    const s = generate({ run: `e2e${now}`, users: 600, seed: 7, now });
    const truth = groundTruth(s, { now });
    const tally = await playAndSettle(world, s, await world.driver.setup(s));
    expect(tally.accepted).toBe(truth.accepted);
    expect(tally.rejectedEvents).toEqual(truth.rejectedEvents);
    expect(tally.rejectedRequests).toEqual(truth.rejectedRequests);
    expect(tally.forgedCallbacks).toEqual(truth.forgedCallbacks);
    await verify(world, s, truth);
  }, 480_000);

  it('loses nothing and doubles nothing while services are SIGKILLed at random moments and the sandbox fails', async () => {
    world = await createPipelineWorld();
    await world.driver.faults({
      systemErrorAfterWork: 3,
      timeoutAfterWork: 2,
      systemError: 3,
      duplicateCallbacks: true,
      reorderCallbacks: true,
      latencyMs: 30,
    });
    const now = Date.now();
    const s = generate({ run: `e2ek${now}`, users: 600, seed: 11, now });
    const truth = groundTruth(s, { now });
    const keys = await world.driver.setup(s);
    const victims: ServiceName[] = ['ingest', 'aggregator', 'rewards', 'payouts', 'wechat-sandbox'];
    let playing = true;
    const killed: string[] = [];
    const killer = (async () => {
      for (let i = 0; playing; i++) {
        // A first quick round kills every service once however short the play is; then at random.
        await sleep(i < victims.length ? 700 + Math.random() * 600 : 1_500 + Math.random() * 3_000);
        if (!playing) break;
        const victim = victims[i % victims.length]!;
        world!.supervisor.kill(victim, 'SIGKILL');
        killed.push(victim);
      }
    })();
    let tally: Tally;
    try {
      tally = await playAndSettle(world, s, keys);
    } finally {
      playing = false;
      await killer;
    }
    expect(new Set(killed)).toEqual(new Set(victims));
    // A request whose answer a killed collector never sent is sent again: accepted twice, counted once.
    expect(tally.accepted).toBeGreaterThanOrEqual(truth.accepted);
    await verify(world, s, truth);
  }, 600_000);

  // The servers are shared by every test file; files run one at a time (vitest.config.ts).
  it.skipIf(!stackOwned)(
    'loses nothing and doubles nothing while Kafka, Redis and Postgres crash and ClickHouse is down for a minute',
    async () => {
      world = await createPipelineWorld();
      const now = Date.now();
      const s = generate({ run: `e2ei${now}`, users: 1_200, seed: 13, now });
      const truth = groundTruth(s, { now });
      const keys = await world.driver.setup(s);
      // The users arrive over 100 s; meanwhile each server crashes in turn and comes back (stack.sh
      // up), ClickHouse after a minute down. The traffic waits for nothing.
      const outages: { server: StackServer; downMs: number }[] = [
        { server: 'kafka', downMs: 3_000 },
        { server: 'redis', downMs: 3_000 },
        { server: 'postgres', downMs: 3_000 },
        { server: 'clickhouse', downMs: 60_000 },
      ];
      let playing = true;
      const downWhilePlaying: StackServer[] = [];
      const faults = (async () => {
        for (const { server, downMs } of outages) {
          await sleep(3_000);
          killStackServer(server);
          if (playing) downWhilePlaying.push(server);
          await sleep(downMs);
          await stackUp();
        }
      })();
      let tally: Tally;
      try {
        tally = await playAndSettle(world, s, keys, { spreadMs: 100_000, onPlayed: () => void (playing = false) });
      } finally {
        await faults;
      }
      expect(downWhilePlaying).toEqual(outages.map((o) => o.server));
      expect(tally.accepted).toBeGreaterThanOrEqual(truth.accepted);
      await verify(world, s, truth);
    },
    900_000,
  );
});
