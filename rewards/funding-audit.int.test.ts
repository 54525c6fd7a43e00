// The audit's money-in checks (sql/audit/11-13) on a scratch database each: a consistent history
// passes every check, and each deliberately broken row fails its check.
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migratePostgres } from '../schemas/migrate.js';
import { createTestPostgres, silentLog } from '../test/support.js';
import { audit } from './audit.js';
import { createFunding } from './funding-pg.js';
import { fundingSeed } from './test-funding-seed.js';
import { refundHold, refundOutcome, topupCredit } from './funding.js';
import { fen } from '../common/money.js';
import type { Transfer } from './ledger.js';
import { createPgLedger } from './ledger-pg.js';

let scratch: Awaited<ReturnType<typeof createTestPostgres>>;
let pool: pg.Pool;
beforeEach(async () => {
  scratch = await createTestPostgres('faudit');
  await migratePostgres(
    { DATABASE_URL: scratch.url },
    { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/postgres') },
  );
  pool = new pg.Pool({ connectionString: scratch.url, max: 4 });
});
afterEach(async () => {
  await pool.end();
  await scratch.drop();
});

/** The world of one case: an advertiser `adv` with ended campaign `c1` (and `c2`), its stores, and the seeded rows. */
function world() {
  const ledger = createPgLedger({ pool });
  const funding = createFunding({ currency: 'CNY' }, { ledger });
  const seed = fundingSeed(pool);
  const post = async (t: Transfer) => expect((await ledger.post([t]))[0]).toEqual({ status: 'created' });
  const order = (no: string, state = 'paid', ageS = 120, amountFen = 1_000) =>
    seed.order(no, { advertiserId: 'adv', campaignId: 'c1', amountFen, state, ageS });
  const credit = async (no: string) =>
    expect(await funding.apply({ kind: 'credit', outTradeNo: no })).toMatchObject({ status: 'created' });
  /** A refund of 600 of c1 (funded 1,000 by order T00001), split into parts P0 and P1 of 300, in `states`. */
  async function refund(states: [string, string], ageS = 120) {
    await order('T00001');
    await credit('T00001');
    const r = await funding.requestRefund({ campaignId: 'c1', amountFen: fen(600), reason: '', idempotencyKey: 'k' });
    if (r.status !== 'created') throw new Error(r.status);
    for (const [i, state] of states.entries())
      await seed.part(`P${i}`, { outTradeNo: 'T00001', refundId: r.refund.refundId, amountFen: 300, state, ageS });
    return r.refund;
  }
  const apply = async (kind: 'refund_settle' | 'refund_release', no: string) =>
    expect(await funding.apply({ kind, outRefundNo: no })).toMatchObject({ status: 'created' });
  return { funding, seed, post, order, credit, refund, apply, setup: () => seed.advertiser('adv', ['c1', 'c2']) };
}
type World = ReturnType<typeof world>;

async function failing(): Promise<string[]> {
  const client = await pool.connect();
  try {
    return (await audit(client)).filter((r) => r.breaches > 0).map((r) => r.name);
  } finally {
    client.release();
  }
}

const order = { advertiserId: 'adv', campaignId: 'c1', amountFen: fen(1_000), currency: 'CNY', state: 'paid' };

describe('the money-in checks', () => {
  it.each<[string, (w: World) => Promise<void>]>([
    [
      'paid orders credited, a refund settled and released, a whole-order refund outside the ledger',
      async (w) => {
        const r = await w.refund(['succeeded', 'failed']);
        await w.apply('refund_settle', 'P0');
        await w.apply('refund_release', 'P1');
        await w.order('T00002');
        await w.credit('T00002');
        await w.order('T00003', 'closed');
        await w.seed.part('W0', { outTradeNo: 'T00003', refundId: null, amountFen: 1_000, state: 'succeeded' });
        expect(
          (await pool.query('select state from campaign_refunds where refund_id = $1', [r.refundId])).rows,
        ).toEqual([{ state: 'partly_refunded' }]);
      },
    ],
    ['a paid order whose credit is in flight (under 60 s)', (w) => w.order('T00001', 'paid', 10)],
    [
      'a refund not split yet, and one with parts in flight or waiting for a person',
      async (w) => {
        await w.refund(['processing', 'attention']);
        await w.order('T00002');
        await w.credit('T00002');
        await w.funding.requestRefund({ campaignId: 'c1', amountFen: fen(100), reason: '', idempotencyKey: 'k2' });
      },
    ],
    [
      'a final part whose outcome is in flight (under 60 s)',
      async (w) => void (await w.refund(['succeeded', 'failed'], 10)),
    ],
  ])('pass on a consistent history: %s', async (_name, build) => {
    const w = world();
    await w.setup();
    await build(w);
    expect(await failing()).toEqual([]);
  });

  it.each<[string, string, (w: World) => Promise<void>]>([
    ['topups-credited-once', 'a paid order left uncredited past 60 s', (w) => w.order('T00001')],
    [
      'topups-credited-once',
      "a credit of another amount than the order's",
      async (w) => {
        await w.order('T00001');
        await w.post(topupCredit({ ...order, outTradeNo: 'T00001', amountFen: fen(900) }));
      },
    ],
    [
      'topups-credited-once',
      "a credit into another campaign's budget",
      async (w) => {
        await w.order('T00001');
        await w.post(topupCredit({ ...order, outTradeNo: 'T00001', campaignId: 'c2' }));
      },
    ],
    [
      'topups-credited-once',
      'a credit of an order that was never paid',
      async (w) => {
        await w.order('T00001', 'closed');
        await w.post(topupCredit({ ...order, outTradeNo: 'T00001' }));
      },
    ],
    ['topups-credited-once', 'a credit with no order', (w) => w.post(topupCredit({ ...order, outTradeNo: 'T00009' }))],
    [
      'refunds-debited-once',
      'a succeeded part left unsettled past 60 s',
      async (w) => void (await w.refund(['succeeded', 'processing'])),
    ],
    [
      'refunds-debited-once',
      'a failed part left unreleased past 60 s',
      async (w) => void (await w.refund(['failed', 'processing'])),
    ],
    [
      'refunds-debited-once',
      'a settle of a part still in flight',
      async (w) => {
        const r = await w.refund(['processing', 'processing']);
        await w.post(refundOutcome('refund_settle', { outRefundNo: 'P0', amountFen: fen(300) }, r));
      },
    ],
    [
      'refunds-debited-once',
      'a release of a succeeded part',
      async (w) => {
        const r = await w.refund(['succeeded', 'processing']);
        await w.post(refundOutcome('refund_release', { outRefundNo: 'P0', amountFen: fen(300) }, r));
      },
    ],
    [
      'refunds-debited-once',
      "a settle of another amount than its part's",
      async (w) => {
        const r = await w.refund(['succeeded', 'processing']);
        await w.post(refundOutcome('refund_settle', { outRefundNo: 'P0', amountFen: fen(200) }, r));
      },
    ],
    [
      'refunds-debited-once',
      'parts that do not add up to the hold',
      async (w) => {
        const r = await w.refund(['processing', 'processing']);
        await w.seed.part('P2', { outTradeNo: 'T00001', refundId: r.refundId, amountFen: 1, state: 'created' });
      },
    ],
    [
      'refunds-debited-once',
      'a refund marked refunded while a part failed',
      async (w) => {
        const r = await w.refund(['succeeded', 'failed']);
        await w.apply('refund_settle', 'P0');
        await w.apply('refund_release', 'P1');
        await pool.query("update campaign_refunds set state = 'refunded' where refund_id = $1", [r.refundId]);
      },
    ],
    [
      'refunds-debited-once',
      'a hold with no campaign refund',
      async (w) => {
        await w.order('T00001');
        await w.credit('T00001');
        await w.post(
          refundHold({
            refundId: '00000000-0000-4000-8000-000000000001',
            campaignId: 'c1',
            advertiserId: 'adv',
            amountFen: fen(100),
            currency: 'CNY',
          }),
        );
      },
    ],
    [
      'refunds-debited-once',
      'a campaign refund with no hold',
      async () => {
        await pool.query(`insert into campaign_refunds (refund_id, campaign_id, advertiser_id, idempotency_key, amount_fen, currency, state)
        values ('00000000-0000-4000-8000-000000000002', 'c1', 'adv', 'k', 100, 'CNY', 'requested')`);
      },
    ],
    [
      'money-in-balanced',
      'money in that lands in no budget',
      (w) =>
        w.post({
          key: 'stray',
          kind: 'fund',
          reference: 'stray',
          postings: [
            { account: { type: 'advertiser_funding', owner: 'adv', currency: 'CNY' }, side: 'debit', amount: fen(50) },
            { account: { type: 'user_available', owner: 'app:u', currency: 'CNY' }, side: 'credit', amount: fen(50) },
          ],
        }),
    ],
    [
      'money-in-balanced',
      'a refund paid straight from a budget, past its clearing account',
      async (w) => {
        await w.order('T00001');
        await w.credit('T00001');
        await w.post({
          key: 'stray',
          kind: 'refund_settle',
          reference: 'stray',
          postings: [
            { account: { type: 'campaign_budget', owner: 'c1', currency: 'CNY' }, side: 'debit', amount: fen(50) },
            { account: { type: 'advertiser_funding', owner: 'adv', currency: 'CNY' }, side: 'credit', amount: fen(50) },
          ],
        });
      },
    ],
  ])('%s fails on %s', async (check, _name, build) => {
    const w = world();
    await w.setup();
    await build(w);
    expect(await failing()).toContain(check);
  });
});
