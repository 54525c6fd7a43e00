import { describe, expect, it } from 'vitest';
import { fundflowCsv } from './sandbox/bills.js';
import { parseFundflowBill, reconcile, toFlow, yuanToFen, type Api, type Flow, type KnownTransfer } from './reconcile.js';

const D = '2026-11-21';
const D1 = '2026-11-22';
const D3 = '2026-11-24';
const row = (voucherNo: string, inOut: '收入' | '支出', amountFen: number, remark = '') =>
  ({ at: Date.parse('2026-11-21T04:00:00Z'), wechatNo: `w${voucherNo}`, flowNo: `f${voucherNo}${inOut}`, business: '商家转账', inOut, amountFen, balanceFen: 1_000_000, voucherNo, remark });
const flow = (voucherNo: string, inOut: 'in' | 'out', billDate = D, amountFen = 100): Flow => ({ voucherNo, wechatNo: '', inOut, amountFen, billDate });
const t = (requestNo: string, state: string, over: Partial<KnownTransfer> & { api?: Api } = {}): KnownTransfer =>
  ({ requestNo, providerId: '', batchNo: 'B1', api: 'v3_bill', amountFen: 100, state, paidThatDay: false, ...over });
const nos = (list: KnownTransfer[]) => list.map((x) => x.requestNo);

describe('the fund-flow bill parser', () => {
  it('reads WeChat\'s CSV (BOM, plain header, backtick fields, summary lines) in fen, keeping commas and quotes inside fields', () => {
    const text = fundflowCsv([row('R1', '支出', 1_234, '奖励,"第1期", ok'), row('R1', '收入', 1_234, 'a`b,c')], '1900000109');
    expect(text.split('\n').at(1)).toContain('`奖励,"第1期", ok,`R1');
    expect(parseFundflowBill(text)).toEqual([
      { flowNo: 'fR1支出', wechatNo: 'wR1', business: '商家转账', inOut: '支出', amountFen: 1_234, remark: '奖励,"第1期", ok', voucherNo: 'R1' },
      { flowNo: 'fR1收入', wechatNo: 'wR1', business: '商家转账', inOut: '收入', amountFen: 1_234, remark: 'a`b,c', voucherNo: 'R1' },
    ]);
    expect(toFlow(parseFundflowBill(text)[0]!, D)).toEqual({ voucherNo: 'R1', wechatNo: 'wR1', inOut: 'out', amountFen: 1_234, billDate: D });
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
    expect(yuanToFen('0.1')).toBe(10);
    expect(yuanToFen('12.30')).toBe(1_230);
    expect(() => yuanToFen('1.234')).toThrow();
  });
});

describe('reconciliation of v3 batches and v2 transfers (a debit is a payment)', () => {
  it('settles what the bill proves paid, reverses and releases what came back, and reports the rest', () => {
    const flows = [
      flow('PAID', 'out'), flow('INFLIGHT', 'out'), flow('BACK', 'out'), flow('BACK', 'in'), flow('BOUNCED', 'out'), flow('BOUNCED', 'in'),
      { ...flow('STRANGER', 'out'), amountFen: 500 }, { ...flow('ODD', 'out'), amountFen: 90 }, flow('RELEASED', 'out'), { ...flow('TOPUP', 'in'), amountFen: 100_000 },
    ];
    const v3 = { api: 'v3_batch' as const };
    const known = [t('PAID', 'succeeded', v3), t('INFLIGHT', 'batched', v3), t('BACK', 'succeeded', v3), t('BOUNCED', 'batched', v3), t('ODD', 'succeeded', v3),
      t('RELEASED', 'failed', v3), t('MISSING', 'succeeded', { ...v3, paidThatDay: true }), t('OTHERDAY', 'succeeded', v3)];
    const r = reconcile({ day: D, flows, known });
    expect(r.matched).toBe(1);
    expect(nos(r.settle)).toEqual(['INFLIGHT']);
    expect(nos(r.reverse)).toEqual(['BACK']);
    expect(nos(r.release)).toEqual(['BOUNCED']);
    expect(r.discrepancies.map((d) => [d.requestNo, d.kind])).toEqual([
      ['STRANGER', 'unknown_to_ledger'], ['ODD', 'amount_mismatch'], ['RELEASED', 'unknown_to_ledger'], ['MISSING', 'paid_not_in_bill'],
    ]);
  });
});

describe('reconciliation of transfer bills (a debit is a lock until the user confirms)', () => {
  // Debit on D at WAIT_USER_CONFIRM; the bill closes unconfirmed and the refund lands on D or D+1;
  // the query showing FAIL comes before or after the bill is read. Nothing is ever unexplained.
  it.each([
    ['debit D, refund D, FAIL seen before the bill', [flow('V', 'out'), flow('V', 'in')], D, 'failed', { matched: 1 }],
    ['debit D, refund D, FAIL seen after the bill', [flow('V', 'out'), flow('V', 'in')], D, 'batched', { query: ['V'] }],
    ['debit D, refund D+1, FAIL seen before bill D', [flow('V', 'out')], D, 'failed', { locked: 1 }],
    ['debit D, refund D+1, FAIL seen after bill D', [flow('V', 'out')], D, 'batched', { locked: 1 }],
    ['debit D, refund D+1, bill D+1 read with FAIL seen', [flow('V', 'out'), flow('V', 'in', D1)], D1, 'failed', { matched: 1 }],
    ['debit D, refund D+1, bill D+1 read before FAIL is seen', [flow('V', 'out'), flow('V', 'in', D1)], D1, 'batched', { query: ['V'] }],
    ['debit D, the user confirmed: paid', [flow('V', 'out')], D, 'succeeded', { matched: 1 }],
    ['debit D, waiting for the user', [flow('V', 'out')], D, 'batched', { locked: 1 }],
  ])('%s: explained', (_name, flows, day, state, expected) => {
    const r = reconcile({ day, flows, known: [t('V', state, { failedOn: state === 'failed' ? D1 : undefined })] });
    expect({ matched: r.matched, locked: r.locked, query: nos(r.query), settled: r.settle.length + r.release.length + r.reverse.length, discrepancies: r.discrepancies })
      .toEqual({ matched: 0, locked: 0, query: [], settled: 0, discrepancies: [], ...expected });
  });

  it('matches a voucher that is WeChat\'s bill number (provider id) to its transfer', () => {
    const r = reconcile({ day: D, flows: [flow('1330000WX', 'out')], known: [t('V', 'succeeded', { providerId: '1330000WX', paidThatDay: true })] });
    expect(r).toMatchObject({ matched: 1, discrepancies: [] });
  });

  it.each([
    ['a refund still missing two days after the failure', [flow('V', 'out')], t('V', 'failed', { failedOn: D }), D3, 'refund_missing'],
    ['the money back while the ledger has the bill paid (and a query is queued)', [flow('V', 'out'), flow('V', 'in')], t('V', 'succeeded'), D, 'unknown_to_ledger'],
    ['a debit of another amount', [{ ...flow('V', 'out'), amountFen: 90 }], t('V', 'batched'), D, 'amount_mismatch'],
    ['a paid bill with no debit on any bill read up to its day', [flow('V', 'out', D1)], t('V', 'succeeded', { paidThatDay: true }), D, 'paid_not_in_bill'],
  ])('reports %s', (_name, flows, known, day, kind) => {
    expect(reconcile({ day, flows, known: [known] }).discrepancies.map((d) => d.kind)).toEqual([kind]);
  });

  it('finds a paid bill\'s debit on an earlier day\'s bill read before', () => {
    const r = reconcile({ day: D1, flows: [flow('V', 'out', D), flow('W', 'out', D1)], known: [t('V', 'succeeded', { paidThatDay: true }), t('W', 'batched')] });
    expect(r).toMatchObject({ locked: 1, discrepancies: [] });
  });

  it('looks again at the vouchers of open discrepancies, even without a flow that day, so they can resolve', () => {
    const r = reconcile({ day: D3, flows: [flow('V', 'out', D), flow('V', 'in', D1)], known: [t('V', 'failed', { failedOn: D })], recheck: ['V'] });
    expect(r).toMatchObject({ matched: 1, evaluated: ['V'], discrepancies: [] });
    expect(reconcile({ day: D3, flows: [flow('V', 'out', D)], known: [t('V', 'batched')] })).toMatchObject({ evaluated: [], locked: 0, discrepancies: [] });
  });
});
