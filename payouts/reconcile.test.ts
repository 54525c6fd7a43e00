import { describe, expect, it } from 'vitest';
import { fundflowCsv } from './sandbox/bills.js';
import { parseFundflowBill, reconcile, yuanToFen, type KnownTransfer } from './reconcile.js';

const flow = (voucherNo: string, inOut: '收入' | '支出', amountFen: number) =>
  ({ at: Date.parse('2026-11-21T04:00:00Z'), wechatNo: 'w', flowNo: 'f', business: '商家转账到零钱', inOut, amountFen, balanceFen: 1_000_000, voucherNo, remark: '' });
const t = (requestNo: string, state: string, amountFen = 100, paidThatDay = false): KnownTransfer => ({ requestNo, batchNo: 'B1', amountFen, state, paidThatDay });

describe('reconciliation', () => {
  it('reads WeChat\'s fund-flow CSV (BOM, backticks, summary lines) in fen', () => {
    const text = fundflowCsv([flow('R1', '支出', 1_234), flow('R1', '收入', 1_234)], '1900000109');
    expect(parseFundflowBill(text)).toEqual([{ voucherNo: 'R1', inOut: '支出', amountFen: 1_234 }, { voucherNo: 'R1', inOut: '收入', amountFen: 1_234 }]);
    expect(parseFundflowBill('')).toEqual([]); // a day without movements: NO_STATEMENT_EXIST
    expect(() => parseFundflowBill('a,b\n')).toThrow(/no column/);
    expect(yuanToFen('0.1')).toBe(10);
    expect(() => yuanToFen('1.234')).toThrow();
  });

  it('settles what the bill proves paid, reverses what came back, and reports the rest', () => {
    const bill = [
      { voucherNo: 'PAID', inOut: '支出', amountFen: 100 }, { voucherNo: 'INFLIGHT', inOut: '支出', amountFen: 100 },
      { voucherNo: 'BACK', inOut: '支出', amountFen: 100 }, { voucherNo: 'BACK', inOut: '收入', amountFen: 100 },
      { voucherNo: 'BOUNCED', inOut: '支出', amountFen: 100 }, { voucherNo: 'BOUNCED', inOut: '收入', amountFen: 100 },
      { voucherNo: 'STRANGER', inOut: '支出', amountFen: 500 }, { voucherNo: 'ODD', inOut: '支出', amountFen: 90 },
      { voucherNo: 'RELEASED', inOut: '支出', amountFen: 100 }, { voucherNo: 'TOPUP', inOut: '收入', amountFen: 100_000 },
    ];
    const known = [t('PAID', 'succeeded'), t('INFLIGHT', 'batched'), t('BACK', 'succeeded'), t('BOUNCED', 'batched'), t('ODD', 'succeeded'), t('RELEASED', 'failed'), t('MISSING', 'succeeded', 100, true), t('OTHERDAY', 'succeeded')];
    const r = reconcile(bill, known);
    expect(r.matched).toBe(1);
    expect(r.settle.map((x) => x.requestNo)).toEqual(['INFLIGHT']);
    expect(r.reverse.map((x) => x.requestNo)).toEqual(['BACK']);
    expect(r.release.map((x) => x.requestNo)).toEqual(['BOUNCED']);
    expect(r.discrepancies.map((d) => [d.requestNo, d.kind])).toEqual([
      ['STRANGER', 'unknown_to_ledger'], ['ODD', 'amount_mismatch'], ['RELEASED', 'unknown_to_ledger'], ['MISSING', 'paid_not_in_bill'],
    ]);
  });
});
