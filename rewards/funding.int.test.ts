// Money in on the real stack: paid orders credited once, campaign refunds held within their caps,
// refund parts settled or released with the refund's final state, and advertisers kept apart on the API.
// The payouts side's rows (topup_orders, topup_refunds) are seeded with SQL (test-funding-seed.ts).
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signAdvertiserToken } from '../common/auth.js';
import { fen } from '../common/money.js';
import { env } from '../test/support.js';
import { fundingOutcomes, refundRequests, type FundingOutcomeJob } from '../schemas/queues.js';
import { fundingSeed } from './test-funding-seed.js';
import { createPgLedger } from './ledger-pg.js';
import { createRewardsWorld, type RewardsWorld } from './test-support.js';

let world: RewardsWorld;
let service: Awaited<ReturnType<RewardsWorld['start']>>;
let seed: ReturnType<typeof fundingSeed>;
let redis: Redis;
let outcomes: Queue<FundingOutcomeJob>;
let refunds: Queue;

beforeAll(async () => {
  world = await createRewardsWorld({ partitions: 1 });
  service = await world.start();
  seed = fundingSeed(world.pool);
  redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  const prefix = world.env.REWARDS_PAYOUT_QUEUE_PREFIX!;
  outcomes = new Queue(fundingOutcomes.name, { connection: redis, prefix });
  refunds = new Queue(refundRequests.name, { connection: redis, prefix });
}, 120_000);

afterAll(async () => {
  for (const q of [outcomes, refunds]) {
    await q?.obliterate({ force: true }).catch(() => {});
    await q?.close();
  }
  await redis?.quit();
  await world?.stop();
});

/** A fresh name, so tests sharing the world never share a row. */
const id = (prefix: string) => `${prefix}${randomUUID().replace(/-/g, '').slice(0, 12)}`;
const apply = (job: FundingOutcomeJob) => service.funding.apply(job);
const credit = (outTradeNo: string) => apply({ kind: 'credit', outTradeNo });

/** An advertiser with one ended campaign whose budget a paid top-up of `topupFen` funded. */
async function fundedCampaign(topupFen: number, opts: { endedS?: number | null } = {}) {
  const [advertiserId, campaignId, no] = [id('adv'), id('camp'), id('T')];
  await seed.advertiser(advertiserId, [campaignId], opts.endedS === undefined ? 60 : opts.endedS);
  await seed.order(no, { advertiserId, campaignId, amountFen: topupFen, state: 'paid' });
  expect(await credit(no)).toEqual({ status: 'created' });
  return { advertiserId, campaignId, no };
}

/** What left a budget for users (as earnings do), posted as a correction. */
const spend = (campaignId: string, amountFen: number) =>
  createPgLedger({ pool: world.pool }).post([
    {
      key: id('spend'),
      kind: 'correction',
      reference: 'spent',
      postings: [
        {
          account: { type: 'campaign_budget', owner: campaignId, currency: 'CNY' },
          side: 'debit',
          amount: fen(amountFen),
        },
        {
          account: { type: 'user_available', owner: `${campaignId}:spender`, currency: 'CNY' },
          side: 'credit',
          amount: fen(amountFen),
        },
      ],
    },
  ]);

const request = (campaignId: string, over: { amountFen?: number; advertiserId?: string; key?: string } = {}) =>
  service.funding.requestRefund({
    campaignId,
    reason: '',
    idempotencyKey: over.key ?? randomUUID(),
    ...(over.advertiserId ? { advertiserId: over.advertiserId } : {}),
    ...(over.amountFen !== undefined ? { amountFen: fen(over.amountFen) } : {}),
  });

describe('credits', () => {
  it('credits a paid order once, however often and however concurrently its outcome comes', async () => {
    const [advertiserId, campaignId, no] = [id('adv'), id('camp'), id('T')];
    await seed.advertiser(advertiserId, [campaignId]);
    await seed.order(no, { advertiserId, campaignId, amountFen: 1_000, state: 'paid' });
    const results = await Promise.all(Array.from({ length: 6 }, () => credit(no)));
    expect(results.map((r) => r.status).sort()).toEqual(['created', 'exists', 'exists', 'exists', 'exists', 'exists']);
    expect(await credit(no)).toEqual({ status: 'exists' });
    // The funding account's owner is the advertiser: what each advertiser paid in is its own.
    expect([
      await seed.balance('campaign_budget', campaignId),
      await seed.balance('advertiser_funding', advertiserId),
    ]).toEqual([1_000, 1_000]);
  });

  it.each([['created'], ['open'], ['closing'], ['closed'], ['attention']])(
    'sets aside the credit of an order %s, and credits nothing',
    async (state) => {
      const [advertiserId, campaignId, no] = [id('adv'), id('camp'), id('T')];
      await seed.advertiser(advertiserId, [campaignId]);
      await seed.order(no, { advertiserId, campaignId, amountFen: 1_000, state });
      expect(await credit(no)).toMatchObject({ status: 'set_aside', reason: 'order_not_paid' });
      expect(await seed.balance('campaign_budget', campaignId)).toBe(0);
    },
  );

  it('credits what WeChat said was paid: an order a person resolved after a mismatched amount never credits what was asked', async () => {
    const [advertiserId, campaignId, no] = [id('adv'), id('camp'), id('T')];
    await seed.advertiser(advertiserId, [campaignId]);
    await seed.order(no, {
      advertiserId,
      campaignId,
      amountFen: 5_000,
      paidFen: 1,
      state: 'paid',
      resolution: 'credit',
    });
    expect(await credit(no)).toEqual({ status: 'created' });
    expect(await seed.balance('campaign_budget', campaignId)).toBe(1);
    expect(await world.audit()).toEqual([]);
  });

  it('sets aside an order resolved refund, and one it does not know', async () => {
    const [advertiserId, campaignId, no] = [id('adv'), id('camp'), id('T')];
    await seed.advertiser(advertiserId, [campaignId]);
    await seed.order(no, { advertiserId, campaignId, amountFen: 1_000, state: 'attention', resolution: 'refund' });
    expect(await credit(no)).toMatchObject({ status: 'set_aside', reason: 'order_not_paid' });
    expect(await credit(id('T'))).toMatchObject({ status: 'set_aside', reason: 'order_not_found' });
  });

  it("applies the queue's jobs: a paid order's credit, and an unpaid one's set aside in the failed set without retries", async () => {
    const [advertiserId, campaignId, paid, closed] = [id('adv'), id('camp'), id('T'), id('T')];
    await seed.advertiser(advertiserId, [campaignId]);
    await seed.order(paid, { advertiserId, campaignId, amountFen: 700, state: 'paid' });
    await seed.order(closed, { advertiserId, campaignId, amountFen: 300, state: 'closed' });
    const opts = { attempts: 50, backoff: { type: 'fixed', delay: 100 } };
    await outcomes.add(
      fundingOutcomes.jobName,
      { kind: 'credit', outTradeNo: paid },
      { jobId: `credit-${paid}`, ...opts },
    );
    await outcomes.add(
      fundingOutcomes.jobName,
      { kind: 'credit', outTradeNo: closed },
      { jobId: `credit-${closed}`, ...opts },
    );
    const settled = async (jobId: string) => {
      for (let i = 0; i < 200; i++) {
        const state = await outcomes.getJobState(jobId);
        if (state === 'completed' || state === 'failed') return state;
        await sleep(50);
      }
      return 'timeout';
    };
    expect([await settled(`credit-${paid}`), await settled(`credit-${closed}`)]).toEqual(['completed', 'failed']);
    const failed = await outcomes.getJob(`credit-${closed}`);
    expect({ attempts: failed!.attemptsMade, reason: failed!.failedReason }).toMatchObject({
      attempts: 1,
      reason: expect.stringMatching(/order_not_paid/),
    });
    expect(await seed.balance('campaign_budget', campaignId)).toBe(700);
  });
});

describe('refund requests', () => {
  it('refuses a campaign that has not ended, and one with nothing that top-ups paid in', async () => {
    const running = await fundedCampaign(1_000, { endedS: null });
    expect(await request(running.campaignId)).toEqual({ status: 'campaign_not_ended' });
    const [advertiserId, campaignId] = [id('adv'), id('camp')];
    await seed.advertiser(advertiserId, [campaignId]);
    expect(await request(campaignId)).toEqual({ status: 'nothing_to_refund' });
    await world.fund(campaignId, 5_000); // the operator's money: no top-up to refund it through
    expect(await request(campaignId)).toEqual({ status: 'nothing_to_refund' });
    expect(
      (
        await world.pool.query('select 1 from campaign_refunds where campaign_id = any ($1)', [
          [campaignId, running.campaignId],
        ])
      ).rowCount,
    ).toBe(0);
  });

  it('caps a refund at what the credited top-ups carry and at the budget, and takes all of that by default', async () => {
    const { campaignId, advertiserId } = await fundedCampaign(1_000);
    await world.fund(campaignId, 500);
    expect(await request(campaignId, { amountFen: 1_001 })).toEqual({ status: 'exceeds_refundable' }); // top-ups carry 1,000
    await spend(campaignId, 800); // the budget holds 700
    expect(await request(campaignId, { amountFen: 701 })).toEqual({ status: 'exceeds_refundable' });
    const all = await request(campaignId);
    expect(all).toMatchObject({
      status: 'created',
      refund: { campaignId, advertiserId, amountFen: 700n, state: 'requested' },
    });
    expect(await request(campaignId)).toEqual({ status: 'nothing_to_refund' });
    const view = await service.campaigns.campaign(campaignId);
    expect(view!.money).toMatchObject({ budgetFen: 0n, fundedFen: 1_000n, heldFen: 700n, refundableFen: 300n });
    expect(await seed.balance('refund_clearing', all.status === 'created' ? all.refund.refundId : '')).toBe(700);
  });

  it('answers a repeated Idempotency-Key with the first refund, and refuses it for another request', async () => {
    const { campaignId } = await fundedCampaign(1_000);
    const other = await fundedCampaign(1_000);
    const key = randomUUID();
    const first = await request(campaignId, { amountFen: 400, key });
    expect(first.status).toBe('created');
    expect(await request(campaignId, { amountFen: 400, key })).toEqual({ ...first, status: 'exists' });
    expect(await request(campaignId, { key })).toEqual({ ...first, status: 'exists' });
    expect(await request(campaignId, { amountFen: 500, key })).toEqual({ status: 'idempotency_key_reused' });
    expect(await seed.balance('campaign_budget', campaignId)).toBe(600);
    // The same advertiser's key names one refund, whatever the campaign.
    await world.pool.query(
      'update campaign_funding set advertiser_id = (select advertiser_id from campaign_funding where campaign_id = $1) where campaign_id = $2',
      [campaignId, other.campaignId],
    );
    expect(await request(other.campaignId, { amountFen: 400, key })).toEqual({ status: 'idempotency_key_reused' });
  });

  it('never holds more than the budget, however many requests come at once', async () => {
    const a = await fundedCampaign(1_000);
    const some = await Promise.all(Array.from({ length: 10 }, () => request(a.campaignId, { amountFen: 300 })));
    expect(some.map((r) => r.status).sort()).toEqual([
      ...Array(3).fill('created'),
      ...Array(7).fill('exceeds_refundable'),
    ]);
    const b = await fundedCampaign(1_000);
    const all = await Promise.all(Array.from({ length: 6 }, () => request(b.campaignId)));
    expect(all.map((r) => r.status).sort()).toEqual(['created', ...Array(5).fill('nothing_to_refund')]);
    expect([
      await seed.balance('campaign_budget', a.campaignId),
      await seed.balance('campaign_budget', b.campaignId),
    ]).toEqual([100, 0]);
    const { rows } = await world.pool.query<{ campaign_id: string; fen: string }>(
      'select campaign_id, sum(amount_fen) as fen from campaign_refunds where campaign_id = any ($1) group by 1 order by 1',
      [[a.campaignId, b.campaignId].sort()],
    );
    expect(rows.map((r) => Number(r.fen))).toEqual(a.campaignId < b.campaignId ? [900, 1_000] : [1_000, 900]);
  });
});

describe('refund outcomes', () => {
  /** A refund of 600 of a campaign funded 1,000, split into two parts of 300 in flight. */
  async function splitRefund() {
    const c = await fundedCampaign(1_000);
    const r = await request(c.campaignId, { amountFen: 600 });
    if (r.status !== 'created') throw new Error(r.status);
    const parts = [`${r.refund.refundId.replace(/-/g, '')}00`, `${r.refund.refundId.replace(/-/g, '')}01`];
    for (const no of parts)
      await seed.part(no, { outTradeNo: c.no, refundId: r.refund.refundId, amountFen: 300, state: 'processing' });
    return { ...c, refundId: r.refund.refundId, parts };
  }
  const refundState = async (refundId: string) =>
    (await world.pool.query<{ state: string }>('select state from campaign_refunds where refund_id = $1', [refundId]))
      .rows[0]!.state;
  const outcome = (state: string) => (state === 'succeeded' ? 'refund_settle' : 'refund_release');

  it.each([
    ['refunded', ['succeeded', 'succeeded'], { budget: 400, funding: 400, settled: 600, released: 0 }],
    ['partly_refunded', ['succeeded', 'failed'], { budget: 700, funding: 700, settled: 300, released: 300 }],
    ['failed', ['failed', 'failed'], { budget: 1_000, funding: 1_000, settled: 0, released: 600 }],
  ] as const)('ends %s once every part is settled or released, each once', async (final, states, expected) => {
    const r = await splitRefund();
    await seed.movePart(r.parts[0]!, states[0]);
    expect(await apply({ kind: outcome(states[0]), outRefundNo: r.parts[0]! })).toEqual({ status: 'created' });
    expect(await apply({ kind: outcome(states[0]), outRefundNo: r.parts[0]! })).toEqual({ status: 'exists' });
    expect(await refundState(r.refundId)).toBe('requested'); // the other part is still in flight
    await seed.movePart(r.parts[1]!, states[1]);
    expect(await apply({ kind: outcome(states[1]), outRefundNo: r.parts[1]! })).toEqual({
      status: 'created',
      refundState: final,
    });
    expect(await apply({ kind: outcome(states[1]), outRefundNo: r.parts[1]! })).toEqual({ status: 'exists' });
    expect(await refundState(r.refundId)).toBe(final);
    // The advertiser's funding account: paid in 1,000, got `settled` back.
    expect({
      budget: await seed.balance('campaign_budget', r.campaignId),
      funding: await seed.balance('advertiser_funding', r.advertiserId),
      clearing: await seed.balance('refund_clearing', r.refundId),
    }).toEqual({ budget: expected.budget, funding: expected.funding, clearing: 0 });
    expect(await service.campaigns.refund(r.campaignId, r.refundId)).toMatchObject({
      state: final,
      settledFen: expected.settled,
      releasedFen: expected.released,
    });
  });

  it("sets aside an outcome its part's state does not allow, and a whole-order refund's", async () => {
    const r = await splitRefund();
    expect(await apply({ kind: 'refund_settle', outRefundNo: r.parts[0]! })).toMatchObject({
      status: 'set_aside',
      reason: 'part_not_succeeded',
    });
    await seed.movePart(r.parts[0]!, 'failed');
    expect(await apply({ kind: 'refund_settle', outRefundNo: r.parts[0]! })).toMatchObject({
      status: 'set_aside',
      reason: 'part_not_succeeded',
    });
    await seed.movePart(r.parts[1]!, 'attention'); // WeChat could not return it: a person settles it
    expect(await apply({ kind: 'refund_release', outRefundNo: r.parts[1]! })).toMatchObject({
      status: 'set_aside',
      reason: 'part_not_failed',
    });
    expect(await apply({ kind: 'refund_release', outRefundNo: r.parts[0]! })).toEqual({ status: 'created' });
    expect(await refundState(r.refundId)).toBe('requested');
    const whole = id('W');
    await seed.part(whole, { outTradeNo: r.no, refundId: null, amountFen: 100, state: 'succeeded' });
    expect(await apply({ kind: 'refund_settle', outRefundNo: whole })).toMatchObject({
      status: 'set_aside',
      reason: 'whole_order_refund',
    });
    expect(await apply({ kind: 'refund_settle', outRefundNo: id('R') })).toMatchObject({
      status: 'set_aside',
      reason: 'part_not_found',
    });
    expect(await seed.balance('refund_clearing', r.refundId)).toBe(300);
  });

  it('leaves every money invariant holding', async () => {
    expect(await world.audit()).toEqual([]);
  });
});

describe('the campaign API', () => {
  const token = (advertiserId: string) =>
    signAdvertiserToken(world.config.REWARDS_TOKEN_SECRET, advertiserId, { ttlS: 600, nowMs: Date.now() });
  const call = (
    method: string,
    path: string,
    t?: string,
    opts: { body?: unknown; headers?: Record<string, string> } = {},
  ) => world.api(service.port, method, path, { ...opts, ...(t ? { token: t } : {}) });

  it("lets an advertiser reach its own campaigns and refunds only; another's is not found", async () => {
    const a = await fundedCampaign(1_000);
    const b = await fundedCampaign(2_000);
    const [ta, tb, operator] = [token(a.advertiserId), token(b.advertiserId), world.config.REWARDS_OPERATOR_TOKEN];
    const mine = await call('POST', `/v1/campaigns/${b.campaignId}/refunds`, tb, {
      body: { amount_fen: 500, reason: 'season over' },
      headers: { 'idempotency-key': 'k1' },
    });
    expect(mine).toMatchObject({
      status: 201,
      body: { campaign_id: b.campaignId, amount_fen: 500, state: 'requested' },
    });
    const refundId = mine.body.refund_id as string;
    expect(await refunds.getJob(refundId)).toMatchObject({ id: refundId, data: { refundId } }); // handed to the payouts service
    const cases: [
      string,
      string,
      string | undefined,
      unknown,
      Record<string, string>,
      number,
      Record<string, unknown>,
    ][] = [
      [
        'its own campaign',
        'GET',
        ta,
        undefined,
        {},
        200,
        {
          campaign_id: a.campaignId,
          advertiser_id: a.advertiserId,
          budget_fen: 1_000,
          funded_fen: 1_000,
          refundable_fen: 1_000,
          refunded_fen: 0,
        },
      ],
      ["another's campaign", 'GET', ta, undefined, {}, 404, { error: 'not_found' }],
      [
        "a refund of another's campaign",
        'POST',
        ta,
        { amount_fen: 100 },
        { 'idempotency-key': 'k2' },
        404,
        { error: 'not_found' },
      ],
      ["another's refund", 'GET', ta, undefined, {}, 404, { error: 'not_found' }],
      [
        'its own refund',
        'GET',
        tb,
        undefined,
        {},
        200,
        { refund_id: refundId, amount_fen: 500, reason: 'season over', settled_fen: 0, parts: [] },
      ],
      [
        'the operator, any campaign',
        'GET',
        operator,
        undefined,
        {},
        200,
        { campaign_id: b.campaignId, budget_fen: 1_500, refundable_fen: 1_500, refunding_fen: 500 },
      ],
      ['a user token', 'GET', world.token('u1'), undefined, {}, 403, { error: 'forbidden' }],
      ['no token', 'GET', undefined, undefined, {}, 401, { error: 'missing_token' }],
    ];
    const paths = [
      `/v1/campaigns/${a.campaignId}`,
      `/v1/campaigns/${b.campaignId}`,
      `/v1/campaigns/${b.campaignId}/refunds`,
      `/v1/campaigns/${b.campaignId}/refunds/${refundId}`,
      `/v1/campaigns/${b.campaignId}/refunds/${refundId}`,
      `/v1/campaigns/${b.campaignId}`,
      `/v1/campaigns/${a.campaignId}`,
      `/v1/campaigns/${a.campaignId}`,
    ];
    const answers = await Promise.all(
      cases.map(([, method, t, body, headers], i) => call(method, paths[i]!, t, { body, headers })),
    );
    cases.forEach(([name, , , , , status, body], i) =>
      expect({ name, status: answers[i]!.status, body: answers[i]!.body }).toMatchObject({ name, status, body }),
    );
    // Its own refund under another of its campaigns' path is not found either.
    expect((await call('GET', `/v1/campaigns/${a.campaignId}/refunds/${refundId}`, ta)).status).toBe(404);
    expect(
      (await world.pool.query('select 1 from campaign_refunds where campaign_id = $1', [b.campaignId])).rowCount,
    ).toBe(1);
  });

  it('answers a repeat with the first refund, and says why it refuses one', async () => {
    const a = await fundedCampaign(1_000);
    const running = await fundedCampaign(1_000, { endedS: null });
    const t = token(a.advertiserId);
    const path = `/v1/campaigns/${a.campaignId}/refunds`;
    const first = await call('POST', path, t, { body: {}, headers: { 'idempotency-key': 'again' } });
    const again = await call('POST', path, t, { body: {}, headers: { 'idempotency-key': 'again' } });
    expect([first.status, again.status, again.body.refund_id, again.headers.get('idempotent-replayed')]).toEqual([
      201,
      201,
      first.body.refund_id,
      'true',
    ]);
    expect(first.body.amount_fen).toBe(1_000);
    const cases: [string, string, string | undefined, unknown, Record<string, string>, number, string][] = [
      ['nothing left', path, t, {}, { 'idempotency-key': 'k3' }, 409, 'nothing_to_refund'],
      [
        'the same key, another amount',
        path,
        t,
        { amount_fen: 5 },
        { 'idempotency-key': 'again' },
        409,
        'idempotency_key_reused',
      ],
      ['no Idempotency-Key', path, t, {}, {}, 400, 'missing_idempotency_key'],
      [
        'an amount that is no integer',
        path,
        t,
        { amount_fen: 1.5 },
        { 'idempotency-key': 'k4' },
        400,
        'invalid_amount',
      ],
      ['a reason that is no string', path, t, { reason: 7 }, { 'idempotency-key': 'k5' }, 400, 'invalid_reason'],
      [
        'a campaign still running',
        `/v1/campaigns/${running.campaignId}/refunds`,
        token(running.advertiserId),
        { amount_fen: 5 },
        { 'idempotency-key': 'k6' },
        409,
        'campaign_not_ended',
      ],
      [
        'the operator, a campaign still running',
        `/v1/campaigns/${running.campaignId}/refunds`,
        world.config.REWARDS_OPERATOR_TOKEN,
        { amount_fen: 5 },
        { 'idempotency-key': 'k7' },
        409,
        'campaign_not_ended',
      ],
    ];
    for (const [name, p, tk, body, headers, status, error] of cases) {
      const r = await call('POST', p, tk, { body, headers });
      expect({ name, status: r.status, error: r.body.error }).toEqual({ name, status, error });
    }
    await world.pool.query('update campaign_funding set ends_at = now() where campaign_id = $1', [running.campaignId]);
    const over = await call(
      'POST',
      `/v1/campaigns/${running.campaignId}/refunds`,
      world.config.REWARDS_OPERATOR_TOKEN,
      { body: { amount_fen: 1_001 }, headers: { 'idempotency-key': 'k8' } },
    );
    expect([over.status, over.body.error]).toEqual([422, 'exceeds_refundable']);
  });

  it("keeps an advertiser token out of every person's money", async () => {
    const t = token(id('adv'));
    for (const [method, path] of [
      ['GET', '/v1/users/u1/balance'],
      ['GET', '/v1/users/u1/ledger'],
      ['POST', '/v1/users/u1/withdrawals'],
    ] as const) {
      const r = await call(
        method,
        path,
        t,
        method === 'POST' ? { body: { amount: 100 }, headers: { 'idempotency-key': 'w1' } } : {},
      );
      expect([path, r.status, r.body.error]).toEqual([path, 403, 'forbidden']);
    }
  });
});

describe('the commands', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'cli-main.ts'), ...args], {
      env: { ...process.env, ...world.env },
      encoding: 'utf8',
    });
  const owner = async (campaignId: string) =>
    (
      await world.pool.query<{ advertiser_id: string | null }>(
        'select advertiser_id from campaign_funding where campaign_id = $1',
        [campaignId],
      )
    ).rows[0]?.advertiser_id;

  it('registers an advertiser, binds its campaigns (all or none), and prints a token that reaches them', async () => {
    const [a, b, fresh, taken, other] = [id('adv'), id('adv'), id('camp'), id('camp'), id('camp')];
    const made = cli('advertiser', a, fresh, taken);
    expect([made.status, made.stderr]).toEqual([0, '']);
    const res = await world.api(service.port, 'GET', `/v1/campaigns/${fresh}`, { token: made.stdout.trim() });
    expect(res).toMatchObject({
      status: 200,
      body: { campaign_id: fresh, advertiser_id: a, ends_at: null, budget_fen: 0 },
    });
    const refused = cli('advertiser', b, other, taken);
    expect([refused.status, refused.stderr]).toEqual([1, expect.stringContaining(taken)]);
    expect([await owner(taken), await owner(other)]).toEqual([a, undefined]);
    expect(cli('advertiser', a, taken).status).toBe(0); // again: a no-op
    expect(cli('advertiser', 'a:b').status).toBe(2);
  });

  it('ends a campaign, and refunds its unspent budget in parts or all of it', async () => {
    const c = await fundedCampaign(1_000, { endedS: null });
    expect(cli('refund', c.campaignId)).toMatchObject({ status: 1, stderr: expect.stringMatching(/not ended/) });
    expect(cli('end', c.campaignId)).toMatchObject({
      status: 0,
      stdout: expect.stringContaining(`${c.campaignId} ended at`),
    });
    const part = cli('refund', c.campaignId, '300', '--reason', 'season over');
    const [refundId, ...rest] = part.stdout.trim().split(' ');
    expect([part.status, rest.join(' ')]).toEqual([0, `${c.campaignId} 300 fen requested`]);
    expect(await refunds.getJob(refundId!)).toMatchObject({ data: { refundId } });
    expect(cli('refund', c.campaignId).stdout).toMatch(/ 700 fen requested$/m);
    expect(cli('refund', c.campaignId)).toMatchObject({
      status: 1,
      stderr: expect.stringMatching(/nothing to refund/),
    });
    expect(cli('end', id('camp')).status).toBe(1);
    expect(
      (await world.pool.query('select reason from campaign_refunds where refund_id = $1', [refundId])).rows,
    ).toEqual([{ reason: 'season over' }]);
  });
});
