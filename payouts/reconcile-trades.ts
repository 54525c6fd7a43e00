// The trade bill (交易账单, bill_type ALL): the day's payments (交易状态 SUCCESS) and refunds (REFUND)
// against the top-up orders and their refunds. What the bill proves and we have not recorded yet is
// asked again (a query, applied as a notification would be); what is then still apart is reported.
import type { Fen } from '../common/money.js';
import { splitBill, type Discrepancy } from './reconcile.js';

export type TradeDiscrepancyKind =
  'trade_unknown' | 'trade_amount_mismatch' | 'trade_not_in_bill' | 'refund_unknown' | 'refund_not_in_bill';
export const TRADE_KINDS: readonly TradeDiscrepancyKind[] = [
  'trade_unknown',
  'trade_amount_mismatch',
  'trade_not_in_bill',
  'refund_unknown',
  'refund_not_in_bill',
];
/**
 * One row of a trade bill; a payment row's refund fields are '0' / 0n. The amounts are the bill's
 * signed decimals as written (plain bigint, not Fen): one below zero is a mismatch to report, never a throw.
 */
export interface TradeRow {
  transactionId: string;
  outTradeNo: string;
  tradeState: string;
  orderFen: bigint;
  outRefundNo: string;
  refundFen: bigint;
  refundStatus: string;
}
/** A top-up order as we hold it; `paidThatDay`: paid_at falls on the bill's China day. */
export interface KnownOrder {
  outTradeNo: string;
  amountFen: Fen;
  state: string;
  transactionId: string;
  paidThatDay: boolean;
}
/** A refund (one part) as we hold it; `succeededThatDay`: succeeded_at falls on the bill's China day. */
export interface KnownRefund {
  outRefundNo: string;
  outTradeNo: string;
  amountFen: Fen;
  state: string;
  succeededThatDay: boolean;
}
export interface TradeReconciliation {
  /** The bill and our records agree. */
  matched: number;
  /** They agree now that WeChat was asked again. */
  rechecked: number;
  /** Explained: an order or refund in attention, which a person is on. */
  attention: number;
  /** To ask WeChat again (first pass only): the bill shows them further on than we have them. */
  recheckOrders: string[];
  recheckRefunds: string[];
  discrepancies: Discrepancy<TradeDiscrepancyKind>[];
}

const TRADE_SUMMARY_HEADER = '总交易单数';
/** Each summary total and the column it adds up, with the decimals that column is written with. */
const TRADE_TOTALS: [summary: string, column: string, places: number][] = [
  ['应结订单总金额', '应结订单金额', 2],
  ['退款总金额', '退款金额', 2],
  ['充值券退款总金额', '充值券退款金额', 2],
  ['手续费总金额', '手续费', 5],
  ['订单总金额', '订单金额', 2],
  ['申请退款总金额', '申请退款金额', 2],
];
/** An order still waiting for its payment (or closed) here: a bill's SUCCESS is asked again. */
const ORDER_PENDING = new Set(['created', 'open', 'closing', 'closed']);
const REFUND_PENDING = new Set(['created', 'processing']);

/** A signed decimal ("-0.05940") in units of 10^-places, without floating point. */
export function decimalUnits(text: string, places: number): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m || (m[3] ?? '').length > places) throw new Error(`not an amount with at most ${places} decimals: ${text}`);
  const units = BigInt(m[2]!) * 10n ** BigInt(places) + BigInt((m[3] ?? '').padEnd(places, '0'));
  return m[1] ? -units : units;
}

/**
 * The rows of a trade bill (splitBill), checked against its summary: the row count (总交易单数) and
 * each total the bill carries with its column. A bill that does not add up is refused (throws).
 */
export function parseTradeBill(text: string): TradeRow[] {
  const bill = splitBill(text, TRADE_SUMMARY_HEADER);
  if (!bill) return []; // a day without trades has no bill (NO_STATEMENT_EXIST)
  const { col, rows, summary } = bill;
  const at = {
    transactionId: col('微信订单号'),
    outTradeNo: col('商户订单号'),
    tradeState: col('交易状态'),
    order: col('订单金额'),
    outRefundNo: col('商户退款单号'),
    refund: col('退款金额'),
    refundStatus: col('退款状态'),
  };
  const amount = (f: string[], i: number, row: number, places = 2) => {
    try {
      return decimalUnits(f[i]!, places);
    } catch (err) {
      throw new Error(`bill row ${row + 1}: ${(err as Error).message}`);
    }
  };
  const out = rows.map((f, i): TradeRow => ({
    transactionId: f[at.transactionId]!,
    outTradeNo: f[at.outTradeNo]!,
    tradeState: f[at.tradeState]!,
    orderFen: amount(f, at.order, i),
    outRefundNo: f[at.outRefundNo]!,
    refundFen: amount(f, at.refund, i),
    refundStatus: f[at.refundStatus]!,
  }));
  const count = summary?.get(TRADE_SUMMARY_HEADER);
  if (count === undefined) throw new Error('the bill has no summary lines');
  if (count !== String(rows.length)) throw new Error(`the summary counts ${count} rows, the bill has ${rows.length}`);
  for (const [name, column, places] of TRADE_TOTALS) {
    const stated = summary!.get(name);
    if (stated === undefined) continue;
    const c = col(column);
    const sum = rows.reduce((n, f, i) => n + amount(f, c, i, places), 0n);
    if (decimalUnits(stated, places) !== sum)
      throw new Error(
        `the summary's ${name} is ${stated}, the rows' ${column} add up to ${(Number(sum) / 10 ** places).toFixed(places)}`,
      );
  }
  return out;
}

/**
 * Reconciles a trade bill's rows with the orders and refunds they name and those we hold paid or
 * refunded on its day. The first pass lists what to ask WeChat again; the pass after the asking
 * (`asked`: what was asked) reports what is still apart, and counts what now agrees as rechecked.
 */
export function reconcileTrades(input: {
  rows: TradeRow[];
  orders: KnownOrder[];
  refunds: KnownRefund[];
  asked?: { orders: ReadonlySet<string>; refunds: ReadonlySet<string> };
}): TradeReconciliation {
  const { rows, asked } = input;
  const orders = new Map(input.orders.map((o) => [o.outTradeNo, o]));
  const refunds = new Map(input.refunds.map((r) => [r.outRefundNo, r]));
  const out: TradeReconciliation = {
    matched: 0,
    rechecked: 0,
    attention: 0,
    recheckOrders: [],
    recheckRefunds: [],
    discrepancies: [],
  };
  // One discrepancy per number and kind (a row twice in the bill is one problem).
  const report = (requestNo: string, kind: TradeDiscrepancyKind, detail: string) =>
    out.discrepancies.some((x) => x.requestNo === requestNo && x.kind === kind) ||
    out.discrepancies.push({ requestNo, kind, detail });
  const agree = (again: boolean) => (again ? out.rechecked++ : out.matched++);
  /** Further on in the bill than here: asked again in the first pass, reported after it. */
  const behind = (
    no: string,
    list: string[],
    wasAsked: ReadonlySet<string> | undefined,
    kind: TradeDiscrepancyKind,
    detail: string,
  ) => {
    if (!asked) return void list.push(no);
    report(
      no,
      kind,
      `${detail}; ${wasAsked!.has(no) ? 'asked WeChat again, still so' : 'nothing here asks WeChat again'}`,
    );
  };

  for (const r of rows) {
    if (r.tradeState === 'SUCCESS') {
      const o = orders.get(r.outTradeNo);
      if (!o)
        report(
          r.outTradeNo,
          'trade_unknown',
          `the bill shows ${r.orderFen} fen paid (WeChat order ${r.transactionId}) under an order number we do not have`,
        );
      else if (o.state === 'attention') out.attention++;
      else if (ORDER_PENDING.has(o.state))
        behind(
          o.outTradeNo,
          out.recheckOrders,
          asked?.orders,
          'trade_unknown',
          `the bill shows it paid, we have the order ${o.state}`,
        );
      else if (r.orderFen !== o.amountFen)
        report(
          o.outTradeNo,
          'trade_amount_mismatch',
          `the bill shows ${r.orderFen} fen paid, the order is for ${o.amountFen}`,
        );
      else if (o.transactionId && r.transactionId !== o.transactionId)
        report(
          o.outTradeNo,
          'trade_unknown',
          `the bill shows WeChat order ${r.transactionId}, we hold ${o.transactionId}`,
        );
      else agree(!!asked?.orders.has(o.outTradeNo));
    } else if (r.tradeState === 'REFUND') {
      const f = refunds.get(r.outRefundNo);
      if (!f)
        report(
          r.outRefundNo,
          'refund_unknown',
          `the bill shows ${r.refundFen} fen refunded from order ${r.outTradeNo} under a refund number we do not have`,
        );
      else if (f.outTradeNo !== r.outTradeNo)
        report(
          f.outRefundNo,
          'refund_unknown',
          `the bill shows it refunded from order ${r.outTradeNo}, we hold it against ${f.outTradeNo}`,
        );
      else if (f.state === 'attention') out.attention++;
      else if (r.refundStatus === 'SUCCESS' && REFUND_PENDING.has(f.state))
        behind(
          f.outRefundNo,
          out.recheckRefunds,
          asked?.refunds,
          'refund_unknown',
          `the bill shows it refunded, we have it ${f.state}`,
        );
      else if (r.refundFen !== f.amountFen)
        report(
          f.outRefundNo,
          'trade_amount_mismatch',
          `the bill shows ${r.refundFen} fen refunded, the refund is for ${f.amountFen}`,
        );
      else if (r.refundStatus === 'SUCCESS' && f.state === 'failed')
        report(
          f.outRefundNo,
          'refund_unknown',
          'the bill shows it refunded, we have it failed (its money went back to the budget)',
        );
      else agree(!!asked?.refunds.has(f.outRefundNo));
    } else
      report(
        r.outTradeNo,
        'trade_unknown',
        `the bill shows a row in state ${r.tradeState}, neither a payment nor a refund`,
      );
  }

  // Paid or refunded here on that day, and not in the bill.
  const paid = new Set(rows.filter((r) => r.tradeState === 'SUCCESS').map((r) => r.outTradeNo));
  const refunded = new Set(rows.filter((r) => r.tradeState === 'REFUND').map((r) => r.outRefundNo));
  for (const o of input.orders) {
    if (o.paidThatDay && o.state === 'paid' && !paid.has(o.outTradeNo))
      report(
        o.outTradeNo,
        'trade_not_in_bill',
        `we hold ${o.amountFen} fen paid that day; the bill has no payment of it`,
      );
  }
  for (const f of input.refunds) {
    if (f.succeededThatDay && f.state === 'succeeded' && !refunded.has(f.outRefundNo))
      report(
        f.outRefundNo,
        'refund_not_in_bill',
        `we hold ${f.amountFen} fen refunded from order ${f.outTradeNo} that day; the bill has no refund of it`,
      );
  }
  return out;
}
