import { describe, expect, it } from 'vitest';
import { fen } from '../common/money.js';
import { fundflowCsv } from './sandbox/bills.js';
import { tradeBillCsv } from './sandbox/trade-bill.js';
import type { Order as SandboxOrder, Refund as SandboxRefund } from './sandbox/trades.js';
import {
  parseFundflowBill,
  reconcile,
  toFlow,
  yuanToFen,
  type Api,
  type Flow,
  type KnownTransfer,
} from './reconcile.js';
import {
  decimalUnits,
  parseTradeBill,
  reconcileTrades,
  type KnownOrder,
  type KnownRefund,
  type TradeRow,
} from './reconcile-trades.js';

const D = '2026-11-21';
const D1 = '2026-11-22';
const D3 = '2026-11-24';
const row = (voucherNo: string, inOut: '收入' | '支出', amountFen: number, remark = '') => ({
  at: Date.parse('2026-11-21T04:00:00Z'),
  wechatNo: `w${voucherNo}`,
  flowNo: `f${voucherNo}${inOut}`,
  business: '商家转账',
  inOut,
  amountFen,
  balanceFen: 1_000_000,
  voucherNo,
  remark,
});
const flow = (voucherNo: string, inOut: 'in' | 'out', billDate = D, amountFen = 100): Flow => ({
  voucherNo,
  wechatNo: '',
  inOut,
  amountFen: fen(amountFen),
  billDate,
});
const t = (requestNo: string, state: string, over: Partial<KnownTransfer> & { api?: Api } = {}): KnownTransfer => ({
  requestNo,
  providerId: '',
  batchNo: 'B1',
  api: 'v3_bill',
  amountFen: fen(100),
  state,
  paidThatDay: false,
  ...over,
});
const nos = (list: KnownTransfer[]) => list.map((x) => x.requestNo);

describe('the fund-flow bill parser', () => {
  it("reads WeChat's CSV (BOM, plain header, backtick fields, summary lines) in fen, keeping commas and quotes inside fields", () => {
    const text = fundflowCsv(
      [row('R1', '支出', 1_234, '奖励,"第1期", ok'), row('R1', '收入', 1_234, 'a`b,c')],
      '1900000109',
    );
    expect(text.split('\n').at(1)).toContain('`奖励,"第1期", ok,`R1');
    expect(parseFundflowBill(text)).toEqual([
      {
        flowNo: 'fR1支出',
        wechatNo: 'wR1',
        business: '商家转账',
        inOut: '支出',
        amountFen: fen(1_234),
        remark: '奖励,"第1期", ok',
        voucherNo: 'R1',
      },
      {
        flowNo: 'fR1收入',
        wechatNo: 'wR1',
        business: '商家转账',
        inOut: '收入',
        amountFen: fen(1_234),
        remark: 'a`b,c',
        voucherNo: 'R1',
      },
    ]);
    expect(toFlow(parseFundflowBill(text)[0]!, D)).toEqual({
      voucherNo: 'R1',
      wechatNo: 'wR1',
      inOut: 'out',
      amountFen: fen(1_234),
      billDate: D,
    });
  });

  it.each([
    ['an empty day (NO_STATEMENT_EXIST)', '', []],
    ['a bill without the columns', 'a,b\n', /no column/],
    ['a row without backticks', `${fundflowCsv([], 'm').split('\n')[0]}\n1,2,3,4,5,6,7,8,9,10,11\n`, /backtick/],
    ['a row with a field too many', fundflowCsv([row('R1', '支出', 100, 'x,`y')], 'm'), /12 fields/],
  ])('reads %s', (_name, text, expected) => {
    if (expected instanceof RegExp) expect(() => parseFundflowBill(text)).toThrow(expected);
    else expect(parseFundflowBill(text)).toEqual(expected);
  });

  it('converts yuan to fen without floating point', () => {
    expect(yuanToFen('0.1')).toBe(10n);
    expect(yuanToFen('12.30')).toBe(1_230n);
    expect(() => yuanToFen('1.234')).toThrow();
  });
});

describe('reconciliation of v3 batches and v2 transfers (a debit is a payment)', () => {
  it('settles what the bill proves paid, reverses and releases what came back, and reports the rest', () => {
    const flows = [
      flow('PAID', 'out'),
      flow('INFLIGHT', 'out'),
      flow('BACK', 'out'),
      flow('BACK', 'in'),
      flow('BOUNCED', 'out'),
      flow('BOUNCED', 'in'),
      { ...flow('STRANGER', 'out'), amountFen: fen(500) },
      { ...flow('ODD', 'out'), amountFen: fen(90) },
      flow('RELEASED', 'out'),
      { ...flow('TOPUP', 'in'), amountFen: fen(100_000) },
    ];
    const v3 = { api: 'v3_batch' as const };
    const known = [
      t('PAID', 'succeeded', v3),
      t('INFLIGHT', 'batched', v3),
      t('BACK', 'succeeded', v3),
      t('BOUNCED', 'batched', v3),
      t('ODD', 'succeeded', v3),
      t('RELEASED', 'failed', v3),
      t('MISSING', 'succeeded', { ...v3, paidThatDay: true }),
      t('OTHERDAY', 'succeeded', v3),
    ];
    const r = reconcile({ day: D, flows, known });
    expect(r.matched).toBe(1);
    expect(nos(r.settle)).toEqual(['INFLIGHT']);
    expect(nos(r.reverse)).toEqual(['BACK']);
    expect(nos(r.release)).toEqual(['BOUNCED']);
    expect(r.discrepancies.map((d) => [d.requestNo, d.kind])).toEqual([
      ['STRANGER', 'unknown_to_ledger'],
      ['ODD', 'amount_mismatch'],
      ['RELEASED', 'unknown_to_ledger'],
      ['MISSING', 'paid_not_in_bill'],
    ]);
  });
});

describe('reconciliation of transfer bills (a debit is a lock until the user confirms)', () => {
  // Debit on D at WAIT_USER_CONFIRM; the bill closes unconfirmed and the refund lands on D or D+1;
  // the query showing FAIL comes before or after the bill is read. Nothing is ever unexplained.
  it.each([
    ['debit D, refund D, FAIL seen before the bill', [flow('V', 'out'), flow('V', 'in')], D, 'failed', { matched: 1 }],
    [
      'debit D, refund D, FAIL seen after the bill',
      [flow('V', 'out'), flow('V', 'in')],
      D,
      'batched',
      { query: ['V'] },
    ],
    ['debit D, refund D+1, FAIL seen before bill D', [flow('V', 'out')], D, 'failed', { locked: 1 }],
    ['debit D, refund D+1, FAIL seen after bill D', [flow('V', 'out')], D, 'batched', { locked: 1 }],
    [
      'debit D, refund D+1, bill D+1 read with FAIL seen',
      [flow('V', 'out'), flow('V', 'in', D1)],
      D1,
      'failed',
      { matched: 1 },
    ],
    [
      'debit D, refund D+1, bill D+1 read before FAIL is seen',
      [flow('V', 'out'), flow('V', 'in', D1)],
      D1,
      'batched',
      { query: ['V'] },
    ],
    ['debit D, the user confirmed: paid', [flow('V', 'out')], D, 'succeeded', { matched: 1 }],
    ['debit D, waiting for the user', [flow('V', 'out')], D, 'batched', { locked: 1 }],
  ])('%s: explained', (_name, flows, day, state, expected) => {
    const r = reconcile({ day, flows, known: [t('V', state, { failedOn: state === 'failed' ? D1 : undefined })] });
    expect({
      matched: r.matched,
      locked: r.locked,
      query: nos(r.query),
      settled: r.settle.length + r.release.length + r.reverse.length,
      discrepancies: r.discrepancies,
    }).toEqual({ matched: 0, locked: 0, query: [], settled: 0, discrepancies: [], ...expected });
  });

  it("matches a voucher that is WeChat's bill number (provider id) to its transfer", () => {
    const r = reconcile({
      day: D,
      flows: [flow('1330000WX', 'out')],
      known: [t('V', 'succeeded', { providerId: '1330000WX', paidThatDay: true })],
    });
    expect(r).toMatchObject({ matched: 1, discrepancies: [] });
  });

  it.each([
    [
      'a refund still missing two days after the failure',
      [flow('V', 'out')],
      t('V', 'failed', { failedOn: D }),
      D3,
      'refund_missing',
    ],
    [
      'the money back while the ledger has the bill paid (and a query is queued)',
      [flow('V', 'out'), flow('V', 'in')],
      t('V', 'succeeded'),
      D,
      'unknown_to_ledger',
    ],
    [
      'a debit of another amount',
      [{ ...flow('V', 'out'), amountFen: fen(90) }],
      t('V', 'batched'),
      D,
      'amount_mismatch',
    ],
    [
      'a paid bill with no debit on any bill read up to its day',
      [flow('V', 'out', D1)],
      t('V', 'succeeded', { paidThatDay: true }),
      D,
      'paid_not_in_bill',
    ],
  ])('reports %s', (_name, flows, known, day, kind) => {
    expect(reconcile({ day, flows, known: [known] }).discrepancies.map((d) => d.kind)).toEqual([kind]);
  });

  it("finds a paid bill's debit on an earlier day's bill read before", () => {
    const r = reconcile({
      day: D1,
      flows: [flow('V', 'out', D), flow('W', 'out', D1)],
      known: [t('V', 'succeeded', { paidThatDay: true }), t('W', 'batched')],
    });
    expect(r).toMatchObject({ locked: 1, discrepancies: [] });
  });

  it('looks again at the vouchers of open discrepancies, even without a flow that day, so they can resolve', () => {
    const r = reconcile({
      day: D3,
      flows: [flow('V', 'out', D), flow('V', 'in', D1)],
      known: [t('V', 'failed', { failedOn: D })],
      recheck: ['V'],
    });
    expect(r).toMatchObject({ matched: 1, evaluated: ['V'], discrepancies: [] });
    expect(reconcile({ day: D3, flows: [flow('V', 'out', D)], known: [t('V', 'batched')] })).toMatchObject({
      evaluated: [],
      locked: 0,
      discrepancies: [],
    });
  });
});

// Trade bills (bill_type ALL) as the sandbox writes them in WeChat's format; `summary` overwrites
// values of the summary line by position (0: 总交易单数, 1: 应结订单总金额, 4: 手续费总金额).
interface BillTrade {
  outTradeNo: string;
  orderFen: number;
  refund?: { outRefundNo: string; fen: number };
  description?: string;
  attach?: string;
}
const paidAt = Date.parse('2026-11-21T04:00:00Z');
const line = (t: BillTrade) => ({
  at: paidAt,
  order: {
    outTradeNo: t.outTradeNo,
    api: 'v3',
    hash: '',
    appid: 'wxtestapp',
    mchid: '1900000109',
    tradeType: 'NATIVE',
    description: t.description ?? '推广预算充值',
    attach: t.attach ?? 'campaign-1',
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
});
function tradeCsv(trades: BillTrade[], summary: Record<number, string> = {}) {
  const lines = tradeBillCsv(trades.map(line), 0.006).split('\n');
  const at = lines.length - 2; // the summary values (the text ends with a newline)
  lines[at] = lines[at]!.split(',')
    .map((v, i) => (summary[i] === undefined ? v : `\`${summary[i]}`))
    .join(',');
  return lines.join('\n');
}

describe('the trade bill parser', () => {
  it('reads payments and refunds in fen, keeping commas, quotes and backticks inside 商品名称 and 商户数据包', () => {
    const text = tradeCsv([
      { outTradeNo: 'T1', orderFen: 12_345, description: '充值, "春节" 活动', attach: 'c`1,x' },
      { outTradeNo: 'T1', orderFen: 12_345, refund: { outRefundNo: 'R101', fen: 5_000 } },
    ]);
    expect(text.split('\n')[1]).toContain('`充值, "春节" 活动,`c`1,x,`');
    expect(parseTradeBill(text)).toEqual([
      {
        transactionId: '4200T1',
        outTradeNo: 'T1',
        tradeState: 'SUCCESS',
        orderFen: 12_345n,
        outRefundNo: '0',
        refundFen: 0n,
        refundStatus: '',
      },
      {
        transactionId: '4200T1',
        outTradeNo: 'T1',
        tradeState: 'REFUND',
        orderFen: 12_345n,
        outRefundNo: 'R101',
        refundFen: 5_000n,
        refundStatus: 'SUCCESS',
      },
    ]);
  });

  it.each([
    ['an empty day (NO_STATEMENT_EXIST)', '', []],
    [
      'a summary that counts another number of rows',
      tradeCsv([{ outTradeNo: 'T1', orderFen: 100 }], { 0: '2' }),
      /counts 2 rows, the bill has 1/,
    ],
    [
      "a summary whose 应结订单总金额 is not the rows' sum",
      tradeCsv(
        [
          { outTradeNo: 'T1', orderFen: 100 },
          { outTradeNo: 'T2', orderFen: 250 },
        ],
        { 1: '3.49' },
      ),
      /应结订单总金额 is 3.49, the rows' 应结订单金额 add up to 3.50/,
    ],
    [
      "a summary whose fee total is not the rows' sum",
      tradeCsv([{ outTradeNo: 'T1', orderFen: 10_000 }], { 4: '0.59' }),
      /手续费总金额 is 0.59/,
    ],
    [
      'a bill without its summary lines',
      tradeCsv([{ outTradeNo: 'T1', orderFen: 100 }])
        .split('\n')
        .slice(0, 2)
        .join('\n'),
      /no summary/,
    ],
    [
      'a row with a field too many (a bare ",`" inside a field)',
      tradeCsv([{ outTradeNo: 'T1', orderFen: 100, description: 'a,`b' }]),
      /28 fields, the header 27/,
    ],
    [
      'an amount that is not one',
      tradeCsv([{ outTradeNo: 'T1', orderFen: 100 }]).replace('`1.00,`0.00,`0,`0', '`1.0x,`0.00,`0,`0'),
      /row 1: not an amount/,
    ],
  ])('reads %s', (_name, text, expected) => {
    if (expected instanceof RegExp) expect(() => parseTradeBill(text)).toThrow(expected);
    else expect(parseTradeBill(text)).toEqual(expected);
  });

  it('adds up signed amounts in units of their decimals', () => {
    expect(decimalUnits('-0.05940', 5)).toBe(-5_940n);
    expect(decimalUnits('0', 2)).toBe(0n);
    expect(() => decimalUnits('0.001', 2)).toThrow();
  });
});

describe('reconciliation of the trade bill against top-up orders and refunds', () => {
  const pay = (outTradeNo: string, orderFen = 1_000n, over: Partial<TradeRow> = {}): TradeRow => ({
    transactionId: `4200${outTradeNo}`,
    outTradeNo,
    tradeState: 'SUCCESS',
    orderFen,
    outRefundNo: '0',
    refundFen: 0n,
    refundStatus: '',
    ...over,
  });
  const back = (outRefundNo: string, outTradeNo: string, refundFen = 400n, over: Partial<TradeRow> = {}): TradeRow => ({
    transactionId: `4200${outTradeNo}`,
    outTradeNo,
    tradeState: 'REFUND',
    orderFen: 1_000n,
    outRefundNo,
    refundFen,
    refundStatus: 'SUCCESS',
    ...over,
  });
  const order = (outTradeNo: string, state = 'paid', over: Partial<KnownOrder> = {}): KnownOrder => ({
    outTradeNo,
    amountFen: fen(1_000),
    state,
    transactionId: state === 'paid' ? `4200${outTradeNo}` : '',
    paidThatDay: false,
    ...over,
  });
  const part = (
    outRefundNo: string,
    outTradeNo: string,
    state = 'succeeded',
    over: Partial<KnownRefund> = {},
  ): KnownRefund => ({ outRefundNo, outTradeNo, amountFen: fen(400), state, succeededThatDay: false, ...over });
  const kinds = (r: ReturnType<typeof reconcileTrades>) => r.discrepancies.map((d) => [d.kind, d.requestNo]);

  it.each<
    [
      string,
      TradeRow[],
      KnownOrder[],
      KnownRefund[],
      Partial<{
        matched: number;
        attention: number;
        recheckOrders: string[];
        recheckRefunds: string[];
        kinds: string[][];
      }>,
    ]
  >([
    ['a payment of a paid order, amount and WeChat order equal', [pay('T1')], [order('T1')], [], { matched: 1 }],
    [
      'a payment of a paid order whose WeChat order we have not stored',
      [pay('T1')],
      [order('T1', 'paid', { transactionId: '' })],
      [],
      { matched: 1 },
    ],
    ['a payment under an order number we do not have', [pay('T9')], [], [], { kinds: [['trade_unknown', 'T9']] }],
    ['a payment of another amount', [pay('T1', 999n)], [order('T1')], [], { kinds: [['trade_amount_mismatch', 'T1']] }],
    [
      'a payment under another WeChat order',
      [pay('T1', 1_000n, { transactionId: '4200OTHER' })],
      [order('T1')],
      [],
      { kinds: [['trade_unknown', 'T1']] },
    ],
    [
      'a payment of an order in attention (a person is on it)',
      [pay('T1', 999n)],
      [order('T1', 'attention')],
      [],
      { attention: 1 },
    ],
    [
      'a payment of an order still open, created, closing or closed',
      [pay('T1'), pay('T2'), pay('T3'), pay('T4')],
      [order('T1', 'open'), order('T2', 'created'), order('T3', 'closing'), order('T4', 'closed')],
      [],
      { recheckOrders: ['T1', 'T2', 'T3', 'T4'] },
    ],
    [
      'a paid order of that day the bill lacks',
      [],
      [order('T1', 'paid', { paidThatDay: true })],
      [],
      { kinds: [['trade_not_in_bill', 'T1']] },
    ],
    ['a paid order of another day the bill lacks', [], [order('T1')], [], {}],
    [
      'an order in attention paid that day the bill lacks',
      [],
      [order('T1', 'attention', { paidThatDay: true })],
      [],
      {},
    ],
    ['a refund recorded succeeded', [back('R1', 'T1')], [], [part('R1', 'T1')], { matched: 1 }],
    ['a refund under a number we do not have', [back('R9', 'T1')], [], [], { kinds: [['refund_unknown', 'R9']] }],
    [
      'a refund of another order than ours',
      [back('R1', 'T2')],
      [],
      [part('R1', 'T1')],
      { kinds: [['refund_unknown', 'R1']] },
    ],
    [
      'a refund of another amount',
      [back('R1', 'T1', 401n)],
      [],
      [part('R1', 'T1')],
      { kinds: [['trade_amount_mismatch', 'R1']] },
    ],
    [
      'a refund we have failed (released to the budget)',
      [back('R1', 'T1')],
      [],
      [part('R1', 'T1', 'failed')],
      { kinds: [['refund_unknown', 'R1']] },
    ],
    [
      'a refund in attention (ABNORMAL: a person is on it)',
      [back('R1', 'T1')],
      [],
      [part('R1', 'T1', 'attention')],
      { attention: 1 },
    ],
    [
      'a refund still created or processing',
      [back('R1', 'T1'), back('R2', 'T1')],
      [],
      [part('R1', 'T1', 'created'), part('R2', 'T1', 'processing')],
      { recheckRefunds: ['R1', 'R2'] },
    ],
    [
      'a refund that succeeded that day and the bill lacks',
      [],
      [],
      [part('R1', 'T1', 'succeeded', { succeededThatDay: true })],
      { kinds: [['refund_not_in_bill', 'R1']] },
    ],
    [
      'a row in another state',
      [pay('T1', 1_000n, { tradeState: 'REVOKED' })],
      [order('T1')],
      [],
      { kinds: [['trade_unknown', 'T1']] },
    ],
    ['a row twice under a number we do not have', [pay('T9'), pay('T9')], [], [], { kinds: [['trade_unknown', 'T9']] }],
  ])('%s', (_name, rows, orders, refunds, expected) => {
    const r = reconcileTrades({ rows, orders, refunds });
    expect({
      matched: r.matched,
      attention: r.attention,
      recheckOrders: r.recheckOrders,
      recheckRefunds: r.recheckRefunds,
      kinds: kinds(r),
    }).toEqual({ matched: 0, attention: 0, recheckOrders: [], recheckRefunds: [], kinds: [], ...expected });
    expect(r.rechecked).toBe(0);
  });

  it('after asking WeChat again: what now agrees is rechecked, what is still apart reported, what nothing asked reported as such', () => {
    const rows = [pay('PAID'), pay('OPEN'), pay('LATE'), pay('NEVER'), back('R1', 'PAID'), back('R2', 'PAID')];
    const asked = { orders: new Set(['PAID', 'OPEN', 'LATE']), refunds: new Set(['R1']) };
    // PAID: the query made it paid; OPEN: still open; LATE: paid after close, now in attention; NEVER: not asked.
    const r = reconcileTrades({
      rows,
      asked,
      orders: [order('PAID'), order('OPEN', 'open'), order('LATE', 'attention'), order('NEVER', 'open')],
      refunds: [part('R1', 'PAID'), part('R2', 'PAID', 'processing')],
    });
    expect(r).toMatchObject({ matched: 0, rechecked: 2, attention: 1, recheckOrders: [], recheckRefunds: [] });
    expect(r.discrepancies).toEqual([
      {
        requestNo: 'OPEN',
        kind: 'trade_unknown',
        detail: 'the bill shows it paid, we have the order open; asked WeChat again, still so',
      },
      {
        requestNo: 'NEVER',
        kind: 'trade_unknown',
        detail: 'the bill shows it paid, we have the order open; nothing here asks WeChat again',
      },
      {
        requestNo: 'R2',
        kind: 'refund_unknown',
        detail: 'the bill shows it refunded, we have it processing; nothing here asks WeChat again',
      },
    ]);
  });

  it('reconciles a parsed bill whose 商品名称 holds commas with nothing unexplained', () => {
    const rows = parseTradeBill(
      tradeCsv([
        { outTradeNo: 'T1', orderFen: 1_000, description: '预算, 第2期, "加急"' },
        { outTradeNo: 'T1', orderFen: 1_000, refund: { outRefundNo: 'R1', fen: 400 } },
      ]),
    );
    expect(
      reconcileTrades({
        rows,
        orders: [order('T1', 'paid', { paidThatDay: true })],
        refunds: [part('R1', 'T1', 'succeeded', { succeededThatDay: true })],
      }),
    ).toMatchObject({ matched: 2, discrepancies: [] });
  });
});
