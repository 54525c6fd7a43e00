// The trade bill reconciled in the same run as the operating account's fund flows, against top-up
// orders and refunds in a real Postgres: what agrees, what WeChat is asked again about, what a person
// is on, and each kind of discrepancy, saved with the run and resolved when the day is run again.
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { PipelineError } from '../common/errors.js';
import { stopAll } from '../common/shutdown.js';
import { createPayoutsCore } from '../payouts/app.js';
import { payoutsConfig } from '../payouts/config.js';
import { createReconciler, type TradeRechecks } from '../payouts/reconcile-pg.js';
import { fundflowCsv } from '../payouts/sandbox/bills.js';
import { tradeBillCsv } from '../payouts/sandbox/trade-bill.js';
import type { Order as SandboxOrder, Refund as SandboxRefund } from '../payouts/sandbox/trades.js';
import type { TradeBill } from '../payouts/topups/pay-in.js';
import { migratePostgres } from '../schemas/migrate.js';
import { createTestPostgres, deleteRedisPrefix, silentLog, uniqueName } from './support.js';

// A trade bill (bill_type ALL) as the sandbox writes it, in WeChat's format (reference/wechatpay.md §6).
interface BillTrade {
  outTradeNo: string;
  orderFen: number;
  refund?: { outRefundNo: string; fen: number };
}
function tradeCsv(trades: BillTrade[]) {
  const paidAt = Date.parse('2031-03-01T04:00:00Z');
  return tradeBillCsv(
    trades.map((t) => ({
      at: paidAt,
      order: {
        outTradeNo: t.outTradeNo,
        api: 'v3',
        hash: '',
        appid: 'wxtestapp',
        mchid: '1900000109',
        tradeType: 'NATIVE',
        description: '推广预算充值, "加急"',
        attach: 'camp-1',
        notifyUrl: 'https://127.0.0.1/v1/wechat/notify',
        totalFen: t.orderFen,
        createdAt: paidAt,
        expiresAt: paidAt,
        prepayId: '',
        state: 'SUCCESS',
        transactionId: `4200${t.outTradeNo}`,
        paidAt,
        payerOpenid: 'oPayer',
      } satisfies SandboxOrder,
      ...(t.refund
        ? {
            refund: {
              outRefundNo: t.refund.outRefundNo,
              outTradeNo: t.outTradeNo,
              api: 'v3',
              hash: '',
              refundId: `5030${t.refund.outRefundNo}`,
              amountFen: t.refund.fen,
              createdAt: paidAt,
              fate: 'SUCCESS',
              status: 'SUCCESS',
              finishedAt: paidAt,
            } satisfies SandboxRefund,
          }
        : {}),
    })),
    0.006,
  );
}

const D = '2031-03-01';
const D1 = '2031-03-02';
const at = (day: string) => `${day} 12:00:00+08`;
const no = (name: string) => `${name}${'0'.repeat(12)}`;
let db: Awaited<ReturnType<typeof createTestPostgres>>;
let pool: pg.Pool;
let core: ReturnType<typeof createPayoutsCore>;
const prefix = uniqueName('bull');
/** What WeChat serves: the bills of each day, as text or not made yet. */
const bills = new Map<string, { fundflow: string; trade: TradeBill }>();

beforeAll(async () => {
  db = await createTestPostgres('payouts');
  await migratePostgres(
    { DATABASE_URL: db.url },
    { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/postgres') },
  );
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  core = createPayoutsCore(
    loadConfig(payoutsConfig, {
      ...process.env,
      DATABASE_URL: db.url,
      PAYOUTS_QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'silent',
    }),
    { log: silentLog },
  );
  await pool.query("insert into advertisers (advertiser_id) values ('adv-1')");
  await pool.query("insert into campaign_funding (campaign_id, advertiser_id) values ('camp-1', 'adv-1')");
});
afterAll(async () => {
  await stopAll(core?.parts ?? [], silentLog);
  await pool?.end();
  await db?.drop();
  await deleteRedisPrefix(prefix);
});

async function order(name: string, state: string, over: { amountFen?: number; paidOn?: string; reason?: string } = {}) {
  const paid = state === 'paid' || state === 'attention';
  await pool.query(
    `insert into topup_orders (out_trade_no, advertiser_id, campaign_id, idempotency_key, amount_fen, currency, api, trade_type, description, expires_at, state,
       attention_reason, transaction_id, paid_fen, paid_at)
     values ($1, 'adv-1', 'camp-1', $1, $2, 'CNY', 'v3', 'NATIVE', '推广预算充值', now() + interval '2 hours', $3, $4, $5, $6, $7)`,
    [
      no(name),
      over.amountFen ?? 1_000,
      state,
      state === 'attention' ? (over.reason ?? 'paid_after_close') : null,
      paid ? `4200${no(name)}` : null,
      paid ? (over.amountFen ?? 1_000) : null,
      paid ? at(over.paidOn ?? D) : null,
    ],
  );
}
async function refund(
  name: string,
  orderName: string,
  state: string,
  over: { amountFen?: number; succeededOn?: string } = {},
) {
  await pool.query(
    'insert into topup_refunds (out_refund_no, out_trade_no, amount_fen, state, succeeded_at) values ($1, $2, $3, $4, $5)',
    [no(name), no(orderName), over.amountFen ?? 400, state, state === 'succeeded' ? at(over.succeededOn ?? D) : null],
  );
}
/** The top-up flow's query + apply, as WeChat would answer it: the bill was right. */
const rechecks: TradeRechecks & { asked: string[] } = {
  asked: [],
  async recheckOrder(outTradeNo) {
    rechecks.asked.push(outTradeNo);
    await pool.query(
      "update topup_orders set state = 'paid', provider_state = 'SUCCESS', transaction_id = '4200' || out_trade_no, paid_fen = amount_fen, paid_at = $2 where out_trade_no = $1",
      [outTradeNo, at(D)],
    );
  },
  async recheckRefund(outRefundNo) {
    rechecks.asked.push(outRefundNo);
    await pool.query(
      "update topup_refunds set state = 'succeeded', provider_state = 'SUCCESS', succeeded_at = $2 where out_refund_no = $1",
      [outRefundNo, at(D)],
    );
  },
};
const reconciler = (opts: { payIn?: boolean; rechecks?: boolean } = {}) =>
  createReconciler({
    pool: core.pool,
    store: core.store,
    queues: core.queued,
    metrics: core.metrics,
    provider: { bill: async (day) => ({ ok: true, text: bills.get(day)?.fundflow ?? '' }) },
    ...(opts.payIn === false
      ? {}
      : { payIn: { tradeBill: async (day) => bills.get(day)?.trade ?? { ok: true, text: '' } } }),
    ...(opts.rechecks === false ? {} : rechecks),
  });
const lastRun = async () =>
  (
    await pool.query(
      'select bill_date::text, bill_rows, unexplained, trade_rows, trade_matched, trade_unexplained from reconciliation_runs order by run_id desc limit 1',
    )
  ).rows[0];
const open = async () =>
  (
    await pool.query(
      "select to_char(bill_date, 'YYYY-MM-DD') as day, kind, request_no from reconciliation_discrepancies where resolved_at is null order by kind, request_no",
    )
  ).rows;

describe('the trade bill, in the same run as the fund-flow bill', () => {
  it('matches, asks again, counts attention and reports each kind of discrepancy, saved with the run', async () => {
    await order('paid', 'paid');
    await order('open', 'open');
    await order('late', 'attention');
    await order('missing', 'paid'); // paid on D by our record; the bill has no payment of it
    await order('other', 'paid', { amountFen: 2_000 });
    await order('yesterday', 'paid', { paidOn: '2031-02-28' });
    await refund('r-ok', 'paid', 'succeeded');
    await refund('r-proc', 'paid', 'processing');
    await refund('r-missing', 'paid', 'succeeded');
    bills.set(D, {
      fundflow: fundflowCsv(
        [
          {
            at: Date.parse(at(D)),
            wechatNo: 'W1',
            flowNo: 'F1',
            business: '商家转账',
            inOut: '支出',
            amountFen: 300,
            balanceFen: 0,
            voucherNo: 'STRANGER',
            remark: '',
          },
        ],
        '1900000109',
      ),
      trade: {
        ok: true,
        text: tradeCsv([
          { outTradeNo: no('paid'), orderFen: 1_000 },
          { outTradeNo: no('open'), orderFen: 1_000 },
          { outTradeNo: no('late'), orderFen: 1_000 },
          { outTradeNo: no('other'), orderFen: 1_999 },
          { outTradeNo: no('stranger'), orderFen: 500 },
          { outTradeNo: no('paid'), orderFen: 1_000, refund: { outRefundNo: no('r-ok'), fen: 400 } },
          { outTradeNo: no('paid'), orderFen: 1_000, refund: { outRefundNo: no('r-proc'), fen: 400 } },
          { outTradeNo: no('paid'), orderFen: 1_000, refund: { outRefundNo: no('r-stranger'), fen: 100 } },
        ]),
      },
    });
    const r = await reconciler().run(D);
    expect(rechecks.asked.sort()).toEqual([no('open'), no('r-proc')]);
    expect(r).toMatchObject({ billRows: 1, unexplained: [{ kind: 'unknown_to_ledger', requestNo: 'STRANGER' }] });
    expect(r.trade).toMatchObject({ billRows: 8, matched: 2, rechecked: 2, attention: 1 });
    expect(r.trade!.unexplained.map((d) => [d.kind, d.requestNo])).toEqual([
      ['trade_amount_mismatch', no('other')],
      ['trade_unknown', no('stranger')],
      ['refund_unknown', no('r-stranger')],
      ['trade_not_in_bill', no('missing')],
      ['refund_not_in_bill', no('r-missing')],
    ]);
    expect(await lastRun()).toEqual({
      bill_date: D,
      bill_rows: 1,
      unexplained: 1,
      trade_rows: 8,
      trade_matched: 4,
      trade_unexplained: 5,
    });
    expect((await open()).map((d) => `${d.day} ${d.kind}`)).toEqual([
      `${D} refund_not_in_bill`,
      `${D} refund_unknown`,
      `${D} trade_amount_mismatch`,
      `${D} trade_not_in_bill`,
      `${D} trade_unknown`,
      `${D} unknown_to_ledger`,
    ]);
    expect(
      (await pool.query('select state from topup_orders where out_trade_no = $1', [no('open')])).rows[0].state,
    ).toBe('paid');
  });

  it("keeps a day's trade discrepancies open through other days' runs, and one not read, and resolves them when that day is run again", async () => {
    // D+1 has no trade bill (NO_STATEMENT_EXIST): 0 rows, and D's discrepancies stay open.
    expect((await reconciler().run(D1)).trade).toEqual({
      billRows: 0,
      matched: 0,
      rechecked: 0,
      attention: 0,
      unexplained: [],
    });
    expect(await lastRun()).toMatchObject({ bill_date: D1, trade_rows: 0, trade_matched: 0, trade_unexplained: 0 });
    // A run that reads no trade bill (no pay-in) resolves no trade discrepancy of its own day.
    expect((await reconciler({ payIn: false }).run(D)).trade).toBeUndefined();
    expect(await open()).toHaveLength(6);
    // The amounts put right and the stranger's order found (a person's fix): D again resolves those two only.
    await pool.query('update topup_orders set amount_fen = 1999, paid_fen = 1999 where out_trade_no = $1', [
      no('other'),
    ]);
    await order('stranger', 'paid', { amountFen: 500, paidOn: D1 });
    rechecks.asked = [];
    const again = await reconciler().run(D);
    expect(rechecks.asked).toEqual([]);
    expect(again.trade).toMatchObject({ matched: 6, rechecked: 0, attention: 1 });
    expect((await open()).map((d) => d.kind)).toEqual([
      'refund_not_in_bill',
      'refund_unknown',
      'trade_not_in_bill',
      'unknown_to_ledger',
    ]);
    expect((await pool.query('select count(*)::int as n from reconciliation_discrepancies')).rows[0].n).toBe(6);
  });

  it('reports what the bill shows paid and nothing asks WeChat about again', async () => {
    const day = '2031-03-05';
    await order('unasked', 'created');
    bills.set(day, {
      fundflow: '',
      trade: { ok: true, text: tradeCsv([{ outTradeNo: no('unasked'), orderFen: 1_000 }]) },
    });
    const r = await reconciler({ rechecks: false }).run(day);
    expect(r.trade!.unexplained).toEqual([
      {
        requestNo: no('unasked'),
        kind: 'trade_unknown',
        detail: 'the bill shows it paid, we have the order created; nothing here asks WeChat again',
      },
    ]);
  });

  it.each([
    [
      'not made yet: try later',
      { ok: false, reason: 'creating', detail: 'STATEMENT_CREATING' } as const,
      'trade_bill_creating',
      true,
    ],
    [
      'whose summary does not add up: the run fails',
      {
        ok: true,
        text: tradeCsv([{ outTradeNo: no('paid'), orderFen: 1_000 }]).replace(/`1,`10\.00/, '`2,`10.00'),
      } as const,
      'trade_bill_malformed',
      false,
    ],
  ])('a trade bill %s, with nothing of the day kept', async (_name, trade, code, retriable) => {
    const day = retriable ? '2031-03-10' : '2031-03-11';
    bills.set(day, {
      fundflow: fundflowCsv(
        [
          {
            at: Date.parse(at(day)),
            wechatNo: 'W2',
            flowNo: `F${day}`,
            business: '商家转账',
            inOut: '支出',
            amountFen: 300,
            balanceFen: 0,
            voucherNo: 'STRANGER2',
            remark: '',
          },
        ],
        '1900000109',
      ),
      trade,
    });
    const err = await reconciler()
      .run(day)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PipelineError);
    expect(err).toMatchObject({ code, retriable });
    expect(
      (await pool.query('select count(*)::int as n from reconciliation_runs where bill_date = $1', [day])).rows[0].n,
    ).toBe(0);
    expect(
      (await pool.query('select count(*)::int as n from operating_flows where bill_date = $1', [day])).rows[0].n,
    ).toBe(0);
  });
});
