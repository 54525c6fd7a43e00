// The top-up store's statements against a real Postgres (migrations applied, advertisers and campaigns
// seeded with SQL): one order per advertiser and key, moves guarded by the state read, the split of a
// campaign refund over its paid orders, and the sweep's lists keyed as rewards' ledger keys them.
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fen } from '../../common/money.js';
import { migratePostgres } from '../../schemas/migrate.js';
import { createTestPostgres, silentLog } from '../../test/support.js';
import { createTopupStore, type NewOrder } from './store-pg.js';

let db: Awaited<ReturnType<typeof createTestPostgres>>;
let pool: pg.Pool;
let store: ReturnType<typeof createTopupStore>;
beforeAll(async () => {
  db = await createTestPostgres('topups');
  await migratePostgres(
    { DATABASE_URL: db.url },
    { log: silentLog, dir: join(import.meta.dirname, '../../schemas/migrations/postgres') },
  );
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  store = createTopupStore({ pollMs: 60_000 }, { pool });
  await pool.query("insert into advertisers (advertiser_id) values ('adv-1'), ('adv-2')");
  await pool.query(
    "insert into campaign_funding (campaign_id, advertiser_id) values ('c-1', 'adv-1'), ('c-2', 'adv-2')",
  );
  await pool.query("insert into campaigns (campaign_id) values ('c-none')");
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});
beforeEach(async () => {
  await pool.query('truncate topup_refunds, campaign_refunds, topup_orders');
});

const order = (over: Partial<NewOrder> = {}): NewOrder => ({
  campaignId: 'c-1',
  idempotencyKey: randomUUID(),
  amountFen: fen(500),
  currency: 'CNY',
  api: 'v3',
  tradeType: 'NATIVE',
  description: '广告预算充值',
  expiryMs: 7_200_000,
  ...over,
});
/** An order of `campaignId` paid `fenPaid` at `paidAt`, straight to paid (the flow's moves are flow.test.ts'). */
async function paidOrder(amountFen: number, paidAt: string, campaignId = 'c-1') {
  const r = await store.createOrder(order({ amountFen: fen(amountFen), campaignId }));
  if (r.status !== 'created') throw new Error(r.status);
  expect(
    await store.moveOrder(r.order.outTradeNo, 'created', 'paid', {
      providerState: 'SUCCESS',
      transactionId: `W${r.order.outTradeNo}`,
      paidFen: fen(amountFen),
      paidAt: new Date(paidAt),
    }),
  ).toBe(true);
  return r.order.outTradeNo;
}
async function campaignRefund(amountFen: number, campaignId = 'c-1') {
  const refundId = randomUUID();
  await pool.query(
    "insert into campaign_refunds (refund_id, campaign_id, advertiser_id, idempotency_key, amount_fen, currency, state) select $1::uuid, campaign_id, advertiser_id, $1::text, $2, 'CNY', 'requested' from campaign_funding where campaign_id = $3",
    [refundId, amountFen, campaignId],
  );
  return refundId;
}

describe('creating an order', () => {
  it('makes one order per advertiser and key, with a fresh 32-hex number, created and due a look later', async () => {
    const req = order({ advertiserId: 'adv-1' });
    const first = await store.createOrder(req);
    expect(first).toMatchObject({
      status: 'created',
      order: { advertiserId: 'adv-1', campaignId: 'c-1', amountFen: fen(500), state: 'created', tradeType: 'NATIVE' },
    });
    if (first.status === 'not_found') throw new Error('not found');
    expect(first.order.outTradeNo).toMatch(/^[0-9a-f]{32}$/);
    expect(first.order.expiresAt.getTime() - Date.now()).toBeGreaterThan(7_100_000);
    // The operator's repeat of the key is the same order (the key is the campaign owner's).
    expect(await store.createOrder({ ...req, advertiserId: undefined })).toEqual({
      status: 'exists',
      order: first.order,
    });
    expect(await store.createOrder(order())).toMatchObject({ status: 'created' });
  });

  it.each([
    ['a campaign of another advertiser', { campaignId: 'c-2', advertiserId: 'adv-1' }],
    ['a campaign with no advertiser', { campaignId: 'c-none' }],
    ['a campaign that does not exist', { campaignId: 'c-nope' }],
  ])('finds no %s', async (_name, over) => {
    expect(await store.createOrder(order(over))).toEqual({ status: 'not_found' });
  });

  it('gives concurrent creates under one key one order', async () => {
    const req = order();
    const all = await Promise.all(Array.from({ length: 6 }, () => store.createOrder(req)));
    expect(new Set(all.map((r) => (r.status === 'not_found' ? 'none' : r.order.outTradeNo))).size).toBe(1);
    expect(all.filter((r) => r.status === 'created')).toHaveLength(1);
  });
});

describe('moves', () => {
  it("records a create's answer only on a created order, and moves only from the state read", async () => {
    const r = await store.createOrder(order());
    if (r.status === 'not_found') throw new Error('not found');
    const no = r.order.outTradeNo;
    expect(await store.recordOpen(no, { codeUrl: 'weixin://wxpay/bizpayurl?pr=x' })).toMatchObject({
      state: 'open',
      codeUrl: 'weixin://wxpay/bizpayurl?pr=x',
    });
    expect(await store.recordOpen(no, { codeUrl: 'weixin://other' })).toBeUndefined();
    expect(await store.moveOrder(no, 'created', 'paid', {})).toBe(false);
    expect(
      await store.moveOrder(no, 'open', 'attention', {
        reason: 'amount_mismatch',
        providerState: 'SUCCESS',
        paidFen: fen(499),
      }),
    ).toBe(true);
    expect(await store.order(no)).toMatchObject({
      state: 'attention',
      attentionReason: 'amount_mismatch',
      paidFen: fen(499),
      codeUrl: 'weixin://wxpay/bizpayurl?pr=x',
    });
    expect(await store.resolve(no, 'refund')).toMatchObject({ state: 'attention', resolution: 'refund' });
    expect(await store.resolve(no, 'credit')).toBeUndefined();
    expect(await store.part(`R${no}`)).toMatchObject({
      refundId: null,
      amountFen: fen(499),
      totalFen: fen(499),
      state: 'created',
    });
  });

  it('claims due orders once, moving their next look on, and says which are past their expiry', async () => {
    const a = await store.createOrder(order());
    const b = await store.createOrder(order());
    if (a.status === 'not_found' || b.status === 'not_found') throw new Error('not found');
    await pool.query("update topup_orders set next_poll_at = now() - interval '1 second' where out_trade_no = $1", [
      a.order.outTradeNo,
    ]);
    await pool.query("update topup_orders set expires_at = now() - interval '61 seconds' where out_trade_no = $1", [
      b.order.outTradeNo,
    ]);
    expect(new Set(await store.claimDueOrders(10))).toEqual(
      new Set([
        { outTradeNo: a.order.outTradeNo, state: 'created', expired: false },
        { outTradeNo: b.order.outTradeNo, state: 'created', expired: true },
      ]),
    );
    expect(await store.claimDueOrders(10)).toEqual([
      { outTradeNo: b.order.outTradeNo, state: 'created', expired: true },
    ]);
    expect(await store.markClosing(b.order.outTradeNo)).toBe(true);
    expect(await store.claimDueOrders(10)).toEqual([]);
  });
});

describe('splitting a campaign refund', () => {
  it('takes the newest paid order first, each part at most what it carries, and is done once', async () => {
    const older = await paidOrder(500, '2031-03-01T10:00:00Z');
    const newer = await paidOrder(300, '2031-03-02T10:00:00Z');
    await paidOrder(900, '2031-03-03T10:00:00Z', 'c-2'); // another campaign's
    const refundId = await campaignRefund(700);
    const hex = refundId.replaceAll('-', '');
    const split = await store.splitRefund(refundId);
    expect(split).toEqual({
      amountFen: fen(700),
      parts: [
        {
          outRefundNo: `${hex}00`,
          outTradeNo: newer,
          refundId,
          amountFen: fen(300),
          state: 'created',
          providerState: null,
          stateReason: null,
          totalFen: fen(300),
          reason: '',
        },
        {
          outRefundNo: `${hex}01`,
          outTradeNo: older,
          refundId,
          amountFen: fen(400),
          state: 'created',
          providerState: null,
          stateReason: null,
          totalFen: fen(500),
          reason: '',
        },
      ],
    });
    expect(await store.splitRefund(refundId)).toEqual(split);
    // A second refund counts what the first took (parts not failed): 100 left, on the older order.
    const second = await campaignRefund(250);
    expect((await store.splitRefund(second))!.parts.map((p) => [p.outTradeNo, p.amountFen, p.state])).toEqual([
      [older, 100n, 'created'],
      [newer, 150n, 'failed'],
    ]);
  });

  it('makes what the paid orders cannot carry one failed part, never sent', async () => {
    const only = await paidOrder(200, '2031-03-01T10:00:00Z');
    const refundId = await campaignRefund(350);
    expect((await store.splitRefund(refundId))!.parts.map((p) => [p.outTradeNo, p.amountFen, p.state])).toEqual([
      [only, 200n, 'created'],
      [only, 150n, 'failed'],
    ]);
    expect(
      (await pool.query('select reason, next_poll_at from topup_refunds where state = $1', ['failed'])).rows,
    ).toEqual([{ reason: 'no_refundable_order', next_poll_at: null }]);
  });

  it('splits two refunds of one campaign at once without counting the same fen twice', async () => {
    await paidOrder(500, '2031-03-01T10:00:00Z');
    const [a, b] = [await campaignRefund(400), await campaignRefund(400)];
    const [pa, pb] = await Promise.all([store.splitRefund(a), store.splitRefund(b)]);
    const sent = [...pa!.parts, ...pb!.parts]
      .filter((p) => p.state === 'created')
      .reduce((n, p) => n + p.amountFen, 0n);
    expect(sent).toBe(500n);
  });

  it('moves a part only from the state read; a final one never again', async () => {
    await paidOrder(500, '2031-03-01T10:00:00Z');
    const [part] = (await store.splitRefund(await campaignRefund(100)))!.parts;
    expect(
      await store.movePart(part!.outRefundNo, 'created', 'processing', {
        providerState: 'PROCESSING',
        wechatRefundId: 'WR1',
      }),
    ).toBe(true);
    expect(await store.movePart(part!.outRefundNo, 'created', 'failed', {})).toBe(false);
    expect(
      await store.movePart(part!.outRefundNo, 'processing', 'succeeded', {
        providerState: 'SUCCESS',
        succeededAt: new Date(),
      }),
    ).toBe(true);
    expect(await store.part(part!.outRefundNo)).toMatchObject({ state: 'succeeded', providerState: 'SUCCESS' });
  });
});

describe("the sweep's hand-offs, by the ledger's keys", () => {
  it('lists paid orders, and final parts, the ledger has no transaction for', async () => {
    const credited = await paidOrder(500, '2031-03-01T10:00:00Z');
    const lost = await paidOrder(300, '2031-03-02T10:00:00Z');
    const refundId = await campaignRefund(700);
    const [p0, p1] = (await store.splitRefund(refundId))!.parts;
    await store.movePart(p0!.outRefundNo, 'created', 'succeeded', {});
    await store.movePart(p1!.outRefundNo, 'created', 'failed', {});
    const unsplit = await campaignRefund(50);
    // Rewards posted the credit of one order and the settle of one part: a balanced stand-in transfer under
    // each key, as rewards/ledger.ts keys them (a JSON array of the parts).
    await pool.query(
      "insert into accounts (type, currency, owner, normal, no_overdraft) values ('advertiser_funding', 'CNY', 't', 'debit', false), ('platform_revenue', 'CNY', 't', 'credit', false)",
    );
    for (const [key, reference] of [
      [`["topup","${credited}"]`, credited],
      [`["refund_settle","${p0!.outRefundNo}"]`, p0!.outRefundNo],
    ]) {
      await pool.query(
        `with t as (insert into transactions (idempotency_key, kind, reference, content_hash) values ($1, 'correction', $2, '\\x00') returning transaction_id)
        insert into postings (transaction_id, account_id, currency, debit, credit)
        select transaction_id, account_id, 'CNY', (type = 'advertiser_funding')::int, (type = 'platform_revenue')::int from t, accounts where owner = 't'`,
        [key, reference],
      );
    }
    expect(await store.uncreditedOrders(10)).toEqual([lost]);
    expect(await store.unsettledParts(10)).toEqual([{ outRefundNo: p1!.outRefundNo, state: 'failed' }]);
    expect(await store.unsplitRefunds(0, 10)).toEqual([unsplit]);
  });
});
