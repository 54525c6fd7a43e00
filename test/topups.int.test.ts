// Money in across both services, with crashes: an advertiser's top-up paid at the WeChat Pay sandbox
// (its own process) is credited to the campaign's budget exactly once, and a refund of what an ended
// campaign left is debited exactly once, whatever the order of notifications and queries and at
// whichever step the payouts service is SIGKILLed (payouts/README.md "Top-ups and refunds").
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { signAdvertiserToken } from '../common/auth.js';
import { fundingOutcomes } from '../schemas/queues.js';
import { testEarning } from '../rewards/test-support.js';
import { startGate } from './notify-gate.js';
import { env as stackEnv } from './support.js';
import { createPayoutsWorld, type PayoutsWorld } from './payouts-world.js';

let w: PayoutsWorld;
let gate: Awaited<ReturnType<typeof startGate>>;
let env: Record<string, string>;
const advertiser = 'adv-crash';

beforeAll(async () => {
  w = await createPayoutsWorld();
  gate = await startGate(() => w.port);
  const notify = `https://127.0.0.1:${gate.port}/v1/wechat/notify`;
  // Notifications pass the gate; an open order is asked about every 300 ms when none came.
  env = { PAYOUTS_NOTIFY_URL: notify, PAYOUTS_TOPUP_POLL_MS: '300', PAYOUTS_SWEEP_MS: '300' };
  await w.world.pool.query('insert into advertisers (advertiser_id) values ($1)', [advertiser]);
}, 120_000);
afterAll(async () => {
  await gate?.close();
  await w?.stop();
});

const token = () =>
  signAdvertiserToken(w.world.config.REWARDS_TOKEN_SECRET, advertiser, { ttlS: 600, nowMs: Date.now() });
const sandbox = async (path: string, body?: unknown) =>
  (await (
    await fetch(`http://127.0.0.1:${w.world.sandbox.adminPort}/sandbox/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      body: JSON.stringify(body),
    })
  ).json()) as Record<string, unknown>;
const query = async <T>(sql: string, params: unknown[]) => (await w.world.pool.query<T & object>(sql, params)).rows;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; await sleep(100)) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
  }
}

/** A campaign of the advertiser, with a reward rule, in the test app. */
async function campaign() {
  const id = `c-${randomUUID().slice(0, 8)}`;
  await w.world.campaign(id);
  await w.world.pool.query('insert into campaign_funding (campaign_id, advertiser_id) values ($1, $2)', [
    id,
    advertiser,
  ]);
  await w.world.rule(id, { complete: 300, conversion: 0 });
  return id;
}

/** POST /v1/topups (a Native order) under `key`; undefined when the service died before answering. */
async function topUp(campaignId: string, amountFen: number, key: string) {
  const res = await fetch(`http://127.0.0.1:${w.port}/v1/topups`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ campaign_id: campaignId, amount_fen: amountFen, method: 'native' }),
  }).catch(() => undefined);
  return res && ((await res.json()) as { out_trade_no: string; state: string; code_url?: string });
}

/** The order under `key`, once it is open at WeChat (asked again with the same key, as a client would after a failure). */
const opened = (campaignId: string, amountFen: number, key: string) =>
  until(`order ${key} open`, async () => {
    const o = await topUp(campaignId, amountFen, key);
    return o?.state === 'open' || o?.state === 'paid' ? o : undefined;
  });

/** Ledger transactions under `key` (a JSON-array idempotency key), and the campaign's budget. */
const ledger = async (campaignId: string, keys: string[]) => ({
  transactions: Number(
    (await query<{ n: string }>('select count(*) as n from transactions where idempotency_key = any($1)', [keys]))[0]!
      .n,
  ),
  budget: Number(
    (
      await query<{ b: string }>(
        "select coalesce(sum(credits - debits), 0) as b from accounts where type = 'campaign_budget' and owner = $1",
        [campaignId],
      )
    )[0]!.b,
  ),
});
const creditKey = (no: string) => JSON.stringify(['topup', no]);
const credited = (campaignId: string, no: string, amountFen: number) =>
  until(`order ${no} credited`, async () =>
    (await ledger(campaignId, [creditKey(no)])).budget >= amountFen ? true : undefined,
  );

/** Until the payouts API answers (any answer). */
const up = () =>
  until('the payouts API', () =>
    fetch(`http://127.0.0.1:${w.port}/v1/topups/none`).then(
      () => true,
      () => undefined,
    ),
  );

/** A payouts service that dies at `step` (its first time there), and the in-process one that comes back after. */
async function crashThenRestart(step: string, act: () => Promise<void>) {
  const crashing = w.spawn({ ...env, CRASH_AT: step, CRASH_AFTER: '1' });
  await up();
  await act();
  expect(await crashing.exited).toBe('SIGKILL');
  return w.start(env);
}

describe('an advertiser token', () => {
  it("reads top-ups and campaigns, never a payout or anyone's waiting bills", async () => {
    const service = await w.start(env);
    try {
      const get = async (path: string) =>
        (await fetch(`http://127.0.0.1:${w.port}${path}`, { headers: { authorization: `Bearer ${token()}` } })).status;
      expect(await get(`/v1/payouts/${randomUUID()}`)).toBe(403);
      expect(await get('/v1/payouts?awaiting=confirmation&user_id=u1')).toBe(403);
      expect(await get('/v1/payouts/authorization')).toBe(403);
    } finally {
      await service.stop();
    }
  });
});

describe('money in, with the payouts service killed at each step', () => {
  it.each(['topup_formed', 'topup_called', 'topup_paid'])(
    'a paid order is credited once, duplicate notifications and all (killed at %s)',
    { timeout: 90_000 },
    async (step) => {
      const c = await campaign();
      const key = randomUUID();
      await sandbox('faults', { duplicateCallbacks: true });
      let no = '';
      const service = await crashThenRestart(step, async () => {
        const first = await topUp(c, 5_000, key);
        // The create dies before or after WeChat saw it: nothing to pay yet. At topup_paid it dies applying the payment.
        if (step === 'topup_paid') await sandbox('pay', { out_trade_no: (no = first!.out_trade_no) });
      });
      try {
        const order = await opened(c, 5_000, key);
        no = order.out_trade_no;
        if (step !== 'topup_paid')
          expect(await sandbox('pay', { out_trade_no: no })).toMatchObject({ trade_state: 'SUCCESS' });
        await credited(c, no, 5_000);
        await sleep(1_000); // duplicates, retries and polls have had their chance
        expect(await ledger(c, [creditKey(no)])).toEqual({ transactions: 1, budget: 5_000 });
        expect(await query('select state, paid_fen from topup_orders where out_trade_no = $1', [no])).toEqual([
          { state: 'paid', paid_fen: '5000' },
        ]);
        expect(await w.world.audit()).toEqual([]);
      } finally {
        await sandbox('faults', { duplicateCallbacks: false });
        await service.stop();
      }
    },
  );

  it(
    'the query before the notification: the payment is applied by the poll, the late notification changes nothing (killed at topup_paid)',
    { timeout: 90_000 },
    async () => {
      const c = await campaign();
      const key = randomUUID();
      const first = await (async () => {
        const s = await w.start(env);
        try {
          return await opened(c, 2_000, key);
        } finally {
          await s.stop();
        }
      })();
      gate.hold();
      let service;
      try {
        service = await crashThenRestart('topup_paid', async () => {
          await sandbox('pay', { out_trade_no: first.out_trade_no }); // the notification waits at the gate; the poll finds the payment
        });
        await credited(c, first.out_trade_no, 2_000);
        const before = gate.answered.length;
        gate.release();
        await until('the held notification delivered', async () =>
          gate.answered.slice(before).some((a) => a.status === 204) ? true : undefined,
        );
        expect(await ledger(c, [creditKey(first.out_trade_no)])).toEqual({ transactions: 1, budget: 2_000 });
        expect(await w.world.audit()).toEqual([]);
      } finally {
        gate.release();
        await service?.stop();
      }
    },
  );

  it(
    'the notification before the query: the notification credits, a query after it changes nothing (killed at topup_paid)',
    { timeout: 90_000 },
    async () => {
      const c = await campaign();
      const key = randomUUID();
      // Long polls: the notification comes first; the service dies applying it, and WeChat sends it again.
      const slow = { PAYOUTS_TOPUP_POLL_MS: '600000' };
      const crashing = w.spawn({ ...env, ...slow, CRASH_AT: 'topup_paid', CRASH_AFTER: '1' });
      await up();
      const order = (await topUp(c, 3_000, key))!;
      await sandbox('pay', { out_trade_no: order.out_trade_no });
      expect(await crashing.exited).toBe('SIGKILL');
      const service = await w.start({ ...env, ...slow });
      try {
        await credited(c, order.out_trade_no, 3_000);
        await service.topups.flow.query(order.out_trade_no); // the query, late
        await sleep(500);
        expect(await ledger(c, [creditKey(order.out_trade_no)])).toEqual({ transactions: 1, budget: 3_000 });
        expect((await sandbox('state')).calls).toMatchObject({
          'GET /v3/pay/transactions/out-trade-no/{no}': expect.any(Number),
        });
        expect(await w.world.audit()).toEqual([]);
      } finally {
        await service.stop();
      }
    },
  );

  it(
    'a payment after close goes to a person, never into the budget; resolved as credit it is credited once (killed at topup_close_called)',
    { timeout: 90_000 },
    async () => {
      const c = await campaign();
      const key = randomUUID();
      const s = await w.start(env);
      const order = await opened(c, 1_500, key).finally(() => s.stop());
      // Time passes: the order's expiry (and the minute of grace after it) is behind us.
      await w.world.pool.query(
        "update topup_orders set expires_at = now() - interval '2 minutes' where out_trade_no = $1",
        [order.out_trade_no],
      );
      // Its first sweep closes the order, and it dies there, perhaps before its API answers.
      const crashing = w.spawn({ ...env, CRASH_AT: 'topup_close_called', CRASH_AFTER: '1' });
      expect(await crashing.exited).toBe('SIGKILL');
      const service = await w.start(env);
      try {
        await until('closed', async () =>
          (
            await query<{ state: string }>('select state from topup_orders where out_trade_no = $1', [
              order.out_trade_no,
            ])
          )[0]!.state === 'closed'
            ? true
            : undefined,
        );
        expect(await sandbox('pay', { out_trade_no: order.out_trade_no })).toEqual({ error: 'ORDER_CLOSED' });
        await sandbox('pay', { out_trade_no: order.out_trade_no, after_close: true }); // the payer was mid-payment when the close came
        await until('attention', async () =>
          (
            await query<{ state: string; attention_reason: string }>(
              'select state, attention_reason from topup_orders where out_trade_no = $1',
              [order.out_trade_no],
            )
          )[0]!.attention_reason === 'paid_after_close'
            ? true
            : undefined,
        );
        await sleep(500);
        expect(await ledger(c, [creditKey(order.out_trade_no)])).toEqual({ transactions: 0, budget: 0 });
        expect(await w.world.audit()).toEqual([]);
        const resolved = await w.cli(['topup-resolve', order.out_trade_no, 'credit']);
        expect(resolved.code, resolved.stderr).toBe(0);
        await credited(c, order.out_trade_no, 1_500);
        expect(await ledger(c, [creditKey(order.out_trade_no)])).toEqual({ transactions: 1, budget: 1_500 });
        expect(await w.world.audit()).toEqual([]);
      } finally {
        await service.stop();
      }
    },
  );
});

describe('refunds of an ended campaign, with the payouts service killed at each step', () => {
  /** A campaign funded by two paid orders (3,000 and 2,000 fen) that spent 300 fen on one earning, then ended. */
  async function spentAndEnded() {
    const c = await campaign();
    const s = await w.start(env);
    try {
      for (const amount of [3_000, 2_000]) {
        const o = await opened(c, amount, randomUUID());
        await sandbox('pay', { out_trade_no: o.out_trade_no });
        await credited(c, o.out_trade_no, amount === 3_000 ? 3_000 : 5_000);
      }
    } finally {
      await s.stop();
    }
    await w.world.send([testEarning(`u-${c}`, c)]);
    await until('the earning', async () => ((await ledger(c, [])).budget === 4_700 ? true : undefined));
    await w.world.pool.query('update campaign_funding set ends_at = now() where campaign_id = $1', [c]);
    return c;
  }
  const refund = (c: string, body: unknown) =>
    w.world.api(w.rewards.port, 'POST', `/v1/campaigns/${c}/refunds`, {
      token: token(),
      body,
      headers: { 'idempotency-key': randomUUID() },
    });
  const refundState = async (id: string) =>
    (await query<{ state: string }>('select state from campaign_refunds where refund_id = $1', [id]))[0]?.state;
  const advertiserFunding = async () =>
    Number(
      (
        await query<{ b: string }>(
          "select coalesce(sum(debits - credits), 0) as b from accounts where type = 'advertiser_funding' and owner = $1",
          [advertiser],
        )
      )[0]!.b,
    );

  it.each(['refund_formed', 'refund_called', 'refund_recorded'])(
    'what the campaign did not spend goes back once, split over its orders (killed at %s)',
    { timeout: 120_000 },
    async (step) => {
      const c = await spentAndEnded();
      const fundedBefore = await advertiserFunding();
      let refundId = '';
      const service = await crashThenRestart(step, async () => {
        const res = await refund(c, {});
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        expect(res.body).toMatchObject({ amount_fen: 4_700 });
        refundId = String(res.body.refund_id);
      });
      try {
        await until('refunded', async () => ((await refundState(refundId)) === 'refunded' ? true : undefined), 60_000);
        const parts = await query<{ out_refund_no: string; amount_fen: string; state: string }>(
          'select out_refund_no, amount_fen, state from topup_refunds where refund_id = $1 order by amount_fen',
          [refundId],
        );
        // Newest order first: its 2,000 whole, then 2,700 of the 3,000 one.
        expect(parts.map((p) => [Number(p.amount_fen), p.state])).toEqual([
          [2_000, 'succeeded'],
          [2_700, 'succeeded'],
        ]);
        const kinds = await query<{ kind: string; n: string }>(
          'select kind, count(*) as n from transactions where reference = any($1) group by kind order by kind',
          [[refundId, ...parts.map((p) => p.out_refund_no)]],
        );
        expect(kinds).toEqual([
          { kind: 'refund_hold', n: '1' },
          { kind: 'refund_settle', n: '2' },
        ]);
        expect((await ledger(c, [])).budget).toBe(0);
        expect(fundedBefore - (await advertiserFunding())).toBe(4_700);
        expect(await w.world.audit()).toEqual([]);
      } finally {
        await service.stop();
      }
    },
  );

  it(
    'a refund WeChat closes gives the money back to the budget once (killed at refund_recorded)',
    { timeout: 120_000 },
    async () => {
      const c = await spentAndEnded();
      await sandbox('faults', { refundClosed: 5 });
      let refundId = '';
      const service = await crashThenRestart('refund_recorded', async () => {
        const res = await refund(c, { amount_fen: 1_000 });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        refundId = String(res.body.refund_id);
      });
      try {
        await until('failed', async () => ((await refundState(refundId)) === 'failed' ? true : undefined), 60_000);
        const parts = await query<{ out_refund_no: string; state: string }>(
          'select out_refund_no, state from topup_refunds where refund_id = $1',
          [refundId],
        );
        expect(parts.map((p) => p.state)).toEqual(['failed']);
        await sleep(500);
        const kinds = await query<{ kind: string; n: string }>(
          'select kind, count(*) as n from transactions where reference = any($1) group by kind order by kind',
          [[refundId, parts[0]!.out_refund_no]],
        );
        expect(kinds).toEqual([
          { kind: 'refund_hold', n: '1' },
          { kind: 'refund_release', n: '1' },
        ]);
        expect((await ledger(c, [])).budget).toBe(4_700);
        expect(await w.world.audit()).toEqual([]);
      } finally {
        await sandbox('faults', { refundClosed: 0 });
        await service.stop();
      }
    },
  );
});

describe('the ledger side, with rewards killed after it applied a credit (funding_applied)', () => {
  it(
    'applies the credit once: the job comes back after the crash and finds it posted',
    { timeout: 120_000 },
    async () => {
      const c = await campaign();
      await w.rewards.stop();
      const crashing = w.world.spawn({ CRASH_AT: 'funding_applied', CRASH_AFTER: '1' });
      const service = await w.start(env);
      const redis = new Redis(stackEnv.REDIS_URL, { maxRetriesPerRequest: null });
      const jobs = new Queue(fundingOutcomes.name, { connection: redis, prefix: w.env.PAYOUTS_QUEUE_PREFIX });
      try {
        const order = await opened(c, 4_000, randomUUID());
        await sandbox('pay', { out_trade_no: order.out_trade_no });
        expect(await crashing.exited).toBe('SIGKILL');
        expect((await ledger(c, [creditKey(order.out_trade_no)])).transactions).toBe(1); // committed before the crash
        await w.world.start(); // takes the stalled job up again
        await until(
          'the credit job completed',
          async () => ((await jobs.getJob(`credit-${order.out_trade_no}`))?.finishedOn ? true : undefined),
          90_000,
        );
        expect(await ledger(c, [creditKey(order.out_trade_no)])).toEqual({ transactions: 1, budget: 4_000 });
        expect(await w.world.audit()).toEqual([]);
      } finally {
        await jobs.close();
        await redis.quit();
        await service.stop();
      }
    },
  );
});
