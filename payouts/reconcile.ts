// Reconciliation (pure): the operating account's fund flows, kept across every day read, against
// the transfers the ledger knows. Per voucher (业务凭证号: the request number, or WeChat's id) the
// net of its debits and refunds is what WeChat kept. For a v3 batch or v2 transfer a debit is a
// payment: what it proves is applied (settle, release, reverse). For a transfer bill a debit is a
// lock taken at WAIT_USER_CONFIRM and given back on close or cancel: reconciliation settles nothing
// (queries do), it explains the money (locked, released) and queues a query where the two disagree.
// What nothing explains is reported. The trade bill of the same day is reconciled against the top-up
// orders and their refunds (below).
export type Api = 'v3_bill' | 'v3_batch' | 'v2_transfer';
/** One row of a fund-flow bill. */
export interface BillRow { flowNo: string; wechatNo: string; business: string; inOut: string; amountFen: number; remark: string; voucherNo: string }
/** A row kept in operating_flows, with the China day of the bill it came from. */
export interface Flow { voucherNo: string; wechatNo: string; inOut: 'in' | 'out'; amountFen: number; billDate: string }
/** `failedOn`: the China day WeChat's failure was recorded here, if it was. */
export interface KnownTransfer { requestNo: string; providerId: string; batchNo: string; api: Api; amountFen: number; state: string; paidThatDay: boolean; failedOn?: string }
export type DiscrepancyKind = 'unknown_to_ledger' | 'amount_mismatch' | 'paid_not_in_bill' | 'refund_missing';
export interface Discrepancy<K extends string = DiscrepancyKind> { requestNo: string; kind: K; detail: string }
export interface Reconciliation {
  settle: KnownTransfer[]; release: KnownTransfer[]; reverse: KnownTransfer[];
  /** Transfer bills to query again: the bill shows their money back while the ledger has them in flight or paid. */
  query: KnownTransfer[];
  /** Explained: the bill and the ledger agree (paid, or released/reversed with the money back). */
  matched: number;
  /** Explained: a transfer bill's money is out of the account while it waits for its user, or its refund is not in a bill read yet. */
  locked: number;
  discrepancies: Discrepancy[];
  /** Every request number (or unknown voucher) looked at, so discrepancies no longer found resolve. */
  evaluated: string[];
}

/** A failed bill's refund may land a day after its failure was seen here; from two days on, it is missing. */
const REFUND_GRACE_DAYS = 2;
const FIELD_SEPARATOR = ',`';
const SUMMARY_HEADER = '资金流水总笔数';

/** Yuan with two decimals ("12.30") to fen, without floating point. */
export function yuanToFen(yuan: string): number {
  const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(yuan.trim());
  if (!m) throw new Error(`not an amount in yuan: ${yuan}`);
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}

/** A bill split into fields: its columns by name, its rows, and its summary line's values by name. */
export interface BillTable { col(name: string): number; rows: string[][]; summary?: Map<string, string> }

/**
 * A bill in WeChat's CSV (fund flow or trade alike): UTF-8 BOM, a plain header, then rows whose every
 * field starts with a backtick, so a field may hold commas and quotes as they are (fields are split
 * on "," followed by a backtick, never on a bare comma), then the plain summary header (its first
 * name is `summaryHeader`) and its values. Undefined for an empty text (a day without a bill).
 */
export function splitBill(text: string, summaryHeader: string): BillTable | undefined {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.length === 0) return undefined; // NO_STATEMENT_EXIST
  const header = lines[0]!.split(',');
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`the bill has no column ${name}`);
    return i;
  };
  const end = lines.findIndex((l) => l.startsWith(summaryHeader));
  const rows = lines.slice(1, end < 0 ? undefined : end).map((line, i) => {
    if (!line.startsWith('`')) throw new Error(`bill row ${i + 1} does not start with a backtick`);
    const f = line.slice(1).split(FIELD_SEPARATOR);
    if (f.length !== header.length) throw new Error(`bill row ${i + 1} has ${f.length} fields, the header ${header.length}`);
    return f;
  });
  if (end < 0) return { col, rows };
  const names = lines[end]!.split(',');
  const line = lines[end + 1] ?? '';
  const values = line.startsWith('`') ? line.slice(1).split(FIELD_SEPARATOR) : line.split(',');
  return { col, rows, summary: new Map(names.map((n, i) => [n, values[i] ?? ''])) };
}

/** The rows of a fund-flow bill (splitBill); its summary is not read. */
export function parseFundflowBill(text: string): BillRow[] {
  const bill = splitBill(text, SUMMARY_HEADER);
  if (!bill) return []; // a day without movements has no bill (NO_STATEMENT_EXIST)
  const { col } = bill;
  const at = {
    flowNo: col('资金流水单号'), wechatNo: col('微信支付业务单号'), business: col('业务名称'), inOut: col('收支类型'),
    amount: col('收支金额(元)'), remark: col('备注'), voucherNo: col('业务凭证号'),
  };
  return bill.rows.map((f) => ({ flowNo: f[at.flowNo]!, wechatNo: f[at.wechatNo]!, business: f[at.business]!, inOut: f[at.inOut]!, amountFen: yuanToFen(f[at.amount]!), remark: f[at.remark]!, voucherNo: f[at.voucherNo]! }));
}

/** A bill row as kept: 收入 is money in, 支出 money out. */
export const toFlow = (r: BillRow, billDate: string): Flow => ({ voucherNo: r.voucherNo, wechatNo: r.wechatNo, inOut: r.inOut === '支出' ? 'out' : 'in', amountFen: r.amountFen, billDate });

const daysBetween = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000);

/**
 * Reconciles day `day`: the vouchers with a flow that day, those of `recheck` (open discrepancies)
 * and those of failed bills whose refund is due, each over all of its flows in `flows` (every day
 * read), against `known`.
 */
export function reconcile(input: { day: string; flows: Flow[]; known: KnownTransfer[]; recheck?: string[] }): Reconciliation {
  const { day, flows, known } = input;
  const byKey = new Map<string, KnownTransfer>();
  for (const t of known) {
    byKey.set(t.requestNo, t);
    if (t.providerId) byKey.set(t.providerId, t);
  }
  // Flows per transfer (by request number or WeChat id), or per voucher nobody knows.
  const groups = new Map<string, { t?: KnownTransfer; voucher: string; out: number; back: number; today: boolean; debitedBy?: string }>();
  for (const f of flows) {
    const t = byKey.get(f.voucherNo) ?? byKey.get(f.wechatNo);
    const key = t?.requestNo ?? f.voucherNo;
    const g = groups.get(key) ?? { t, voucher: f.voucherNo, out: 0, back: 0, today: false };
    if (f.inOut === 'out') {
      g.out += f.amountFen;
      if (!g.debitedBy || f.billDate < g.debitedBy) g.debitedBy = f.billDate;
    } else g.back += f.amountFen;
    g.today ||= f.billDate === day;
    groups.set(key, g);
  }
  const recheck = new Set(input.recheck ?? []);
  const out: Reconciliation = { settle: [], release: [], reverse: [], query: [], matched: 0, locked: 0, discrepancies: [], evaluated: [] };
  const report = (requestNo: string, kind: DiscrepancyKind, detail: string) => out.discrepancies.push({ requestNo, kind, detail });

  // A failed bill's refund is looked for again once its grace is over, whether or not it has a flow that day.
  const refundDue = (t?: KnownTransfer) => t?.api === 'v3_bill' && t.state === 'failed' && !!t.failedOn && daysBetween(t.failedOn, day) >= REFUND_GRACE_DAYS;
  for (const [key, g] of groups) {
    if (!g.today && !recheck.has(key) && !refundDue(g.t)) continue;
    out.evaluated.push(key);
    if (g.out === 0) continue; // money in that is not a returned transfer: a top-up, a move between accounts
    const t = g.t;
    const kept = g.out - g.back;
    if (!t) {
      report(key, 'unknown_to_ledger', `the bill shows ${kept} fen paid under a number the ledger does not know`);
      continue;
    }
    if (kept !== 0 && kept !== t.amountFen) {
      report(key, 'amount_mismatch', `the bill shows ${kept} fen, the ledger ${t.amountFen}`);
      continue;
    }
    if (t.api === 'v3_bill') bill(t, kept);
    else payment(t, kept);
  }

  /** v3 batches and v2: a debit is the payment. */
  function payment(t: KnownTransfer, kept: number) {
    if (kept > 0) {
      if (t.state === 'batched') out.settle.push(t);
      else if (t.state === 'succeeded') out.matched++;
      else report(t.requestNo, 'unknown_to_ledger', `the bill shows ${kept} fen paid, the ledger has the transfer ${t.state}`);
    } else if (t.state === 'succeeded') out.reverse.push(t);
    else if (t.state === 'batched') out.release.push(t);
    else out.matched++;
  }
  /** Transfer bills: a debit is a lock until the user confirms; closed or cancelled, it comes back. */
  function bill(t: KnownTransfer, kept: number) {
    if (kept > 0) {
      if (t.state === 'batched') out.locked++;
      else if (t.state === 'succeeded') out.matched++;
      else if (t.state === 'failed' && (!t.failedOn || daysBetween(t.failedOn, day) < REFUND_GRACE_DAYS)) out.locked++;
      else if (t.state === 'failed') report(t.requestNo, 'refund_missing', `the bill failed on ${t.failedOn}; the ${kept} fen it locked have not come back in any bill read`);
      else report(t.requestNo, 'unknown_to_ledger', `the bill shows ${kept} fen paid, the ledger has the transfer ${t.state}`);
    } else if (t.state === 'batched') out.query.push(t); // the money came back: a query will show the bill closed or cancelled
    else if (t.state === 'succeeded') {
      out.query.push(t);
      report(t.requestNo, 'unknown_to_ledger', 'the bill shows the money back, the ledger has the transfer paid; a query is queued');
    } else out.matched++;
  }

  // Paid this day (or reported so before), with no debit in any bill read up to this day.
  for (const t of known) {
    const again = recheck.has(t.requestNo);
    if (!t.paidThatDay && !again) continue;
    if (!out.evaluated.includes(t.requestNo)) out.evaluated.push(t.requestNo);
    const debitedBy = groups.get(t.requestNo)?.debitedBy;
    if (t.state === 'succeeded' && (!debitedBy || (t.paidThatDay && debitedBy > day))) {
      report(t.requestNo, 'paid_not_in_bill', `the ledger paid ${t.amountFen} fen; no bill read up to its day shows it`);
    }
  }
  return out;
}

// The trade bill (交易账单, bill_type ALL): the day's payments (交易状态 SUCCESS) and refunds (REFUND)
// against the top-up orders and their refunds. What the bill proves and we have not recorded yet is
// asked again (a query, applied as a notification would be); what is then still apart is reported.
export type TradeDiscrepancyKind = 'trade_unknown' | 'trade_amount_mismatch' | 'trade_not_in_bill' | 'refund_unknown' | 'refund_not_in_bill';
export const TRADE_KINDS: readonly TradeDiscrepancyKind[] = ['trade_unknown', 'trade_amount_mismatch', 'trade_not_in_bill', 'refund_unknown', 'refund_not_in_bill'];
export const FUNDFLOW_KINDS: readonly DiscrepancyKind[] = ['unknown_to_ledger', 'amount_mismatch', 'paid_not_in_bill', 'refund_missing'];
/** One row of a trade bill; a payment row's refund fields are '0' / 0. */
export interface TradeRow { transactionId: string; outTradeNo: string; tradeState: string; orderFen: number; outRefundNo: string; refundFen: number; refundStatus: string }
/** A top-up order as we hold it; `paidThatDay`: paid_at falls on the bill's China day. */
export interface KnownOrder { outTradeNo: string; amountFen: number; state: string; transactionId: string; paidThatDay: boolean }
/** A refund (one part) as we hold it; `succeededThatDay`: succeeded_at falls on the bill's China day. */
export interface KnownRefund { outRefundNo: string; outTradeNo: string; amountFen: number; state: string; succeededThatDay: boolean }
export interface TradeReconciliation {
  /** The bill and our records agree. */
  matched: number;
  /** They agree now that WeChat was asked again. */
  rechecked: number;
  /** Explained: an order or refund in attention, which a person is on. */
  attention: number;
  /** To ask WeChat again (first pass only): the bill shows them further on than we have them. */
  recheckOrders: string[]; recheckRefunds: string[];
  discrepancies: Discrepancy<TradeDiscrepancyKind>[];
}

const TRADE_SUMMARY_HEADER = '总交易单数';
/** Each summary total and the column it adds up, with the decimals that column is written with. */
const TRADE_TOTALS: [summary: string, column: string, places: number][] = [
  ['应结订单总金额', '应结订单金额', 2], ['退款总金额', '退款金额', 2], ['充值券退款总金额', '充值券退款金额', 2],
  ['手续费总金额', '手续费', 5], ['订单总金额', '订单金额', 2], ['申请退款总金额', '申请退款金额', 2],
];
/** An order still waiting for its payment (or closed) here: a bill's SUCCESS is asked again. */
const ORDER_PENDING = new Set(['created', 'open', 'closing', 'closed']);
const REFUND_PENDING = new Set(['created', 'processing']);

/** A signed decimal ("-0.05940") in units of 10^-places, without floating point. */
export function decimalUnits(text: string, places: number): number {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text.trim());
  if (!m || (m[3] ?? '').length > places) throw new Error(`not an amount with at most ${places} decimals: ${text}`);
  const units = Number(m[2]) * 10 ** places + Number((m[3] ?? '').padEnd(places, '0'));
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
    transactionId: col('微信订单号'), outTradeNo: col('商户订单号'), tradeState: col('交易状态'), order: col('订单金额'),
    outRefundNo: col('商户退款单号'), refund: col('退款金额'), refundStatus: col('退款状态'),
  };
  const amount = (f: string[], i: number, row: number, places = 2) => {
    try {
      return decimalUnits(f[i]!, places);
    } catch (err) {
      throw new Error(`bill row ${row + 1}: ${(err as Error).message}`);
    }
  };
  const out = rows.map((f, i): TradeRow => ({
    transactionId: f[at.transactionId]!, outTradeNo: f[at.outTradeNo]!, tradeState: f[at.tradeState]!, orderFen: amount(f, at.order, i),
    outRefundNo: f[at.outRefundNo]!, refundFen: amount(f, at.refund, i), refundStatus: f[at.refundStatus]!,
  }));
  const count = summary?.get(TRADE_SUMMARY_HEADER);
  if (count === undefined) throw new Error('the bill has no summary lines');
  if (count !== String(rows.length)) throw new Error(`the summary counts ${count} rows, the bill has ${rows.length}`);
  for (const [name, column, places] of TRADE_TOTALS) {
    const stated = summary!.get(name);
    if (stated === undefined) continue;
    const c = col(column);
    const sum = rows.reduce((n, f, i) => n + amount(f, c, i, places), 0);
    if (decimalUnits(stated, places) !== sum) throw new Error(`the summary's ${name} is ${stated}, the rows' ${column} add up to ${(sum / 10 ** places).toFixed(places)}`);
  }
  return out;
}

/**
 * Reconciles a trade bill's rows with the orders and refunds they name and those we hold paid or
 * refunded on its day. The first pass lists what to ask WeChat again; the pass after the asking
 * (`asked`: what was asked) reports what is still apart, and counts what now agrees as rechecked.
 */
export function reconcileTrades(input: { rows: TradeRow[]; orders: KnownOrder[]; refunds: KnownRefund[]; asked?: { orders: ReadonlySet<string>; refunds: ReadonlySet<string> } }): TradeReconciliation {
  const { rows, asked } = input;
  const orders = new Map(input.orders.map((o) => [o.outTradeNo, o]));
  const refunds = new Map(input.refunds.map((r) => [r.outRefundNo, r]));
  const out: TradeReconciliation = { matched: 0, rechecked: 0, attention: 0, recheckOrders: [], recheckRefunds: [], discrepancies: [] };
  // One discrepancy per number and kind (a row twice in the bill is one problem).
  const report = (requestNo: string, kind: TradeDiscrepancyKind, detail: string) =>
    out.discrepancies.some((x) => x.requestNo === requestNo && x.kind === kind) || out.discrepancies.push({ requestNo, kind, detail });
  const agree = (again: boolean) => (again ? out.rechecked++ : out.matched++);
  /** Further on in the bill than here: asked again in the first pass, reported after it. */
  const behind = (no: string, list: string[], wasAsked: ReadonlySet<string> | undefined, kind: TradeDiscrepancyKind, detail: string) => {
    if (!asked) return void list.push(no);
    report(no, kind, `${detail}; ${wasAsked!.has(no) ? 'asked WeChat again, still so' : 'nothing here asks WeChat again'}`);
  };

  for (const r of rows) {
    if (r.tradeState === 'SUCCESS') {
      const o = orders.get(r.outTradeNo);
      if (!o) report(r.outTradeNo, 'trade_unknown', `the bill shows ${r.orderFen} fen paid (WeChat order ${r.transactionId}) under an order number we do not have`);
      else if (o.state === 'attention') out.attention++;
      else if (ORDER_PENDING.has(o.state)) behind(o.outTradeNo, out.recheckOrders, asked?.orders, 'trade_unknown', `the bill shows it paid, we have the order ${o.state}`);
      else if (r.orderFen !== o.amountFen) report(o.outTradeNo, 'trade_amount_mismatch', `the bill shows ${r.orderFen} fen paid, the order is for ${o.amountFen}`);
      else if (o.transactionId && r.transactionId !== o.transactionId) report(o.outTradeNo, 'trade_unknown', `the bill shows WeChat order ${r.transactionId}, we hold ${o.transactionId}`);
      else agree(!!asked?.orders.has(o.outTradeNo));
    } else if (r.tradeState === 'REFUND') {
      const f = refunds.get(r.outRefundNo);
      if (!f) report(r.outRefundNo, 'refund_unknown', `the bill shows ${r.refundFen} fen refunded from order ${r.outTradeNo} under a refund number we do not have`);
      else if (f.outTradeNo !== r.outTradeNo) report(f.outRefundNo, 'refund_unknown', `the bill shows it refunded from order ${r.outTradeNo}, we hold it against ${f.outTradeNo}`);
      else if (f.state === 'attention') out.attention++;
      else if (r.refundStatus === 'SUCCESS' && REFUND_PENDING.has(f.state)) behind(f.outRefundNo, out.recheckRefunds, asked?.refunds, 'refund_unknown', `the bill shows it refunded, we have it ${f.state}`);
      else if (r.refundFen !== f.amountFen) report(f.outRefundNo, 'trade_amount_mismatch', `the bill shows ${r.refundFen} fen refunded, the refund is for ${f.amountFen}`);
      else if (r.refundStatus === 'SUCCESS' && f.state === 'failed') report(f.outRefundNo, 'refund_unknown', 'the bill shows it refunded, we have it failed (its money went back to the budget)');
      else agree(!!asked?.refunds.has(f.outRefundNo));
    } else report(r.outTradeNo, 'trade_unknown', `the bill shows a row in state ${r.tradeState}, neither a payment nor a refund`);
  }

  // Paid or refunded here on that day, and not in the bill.
  const paid = new Set(rows.filter((r) => r.tradeState === 'SUCCESS').map((r) => r.outTradeNo));
  const refunded = new Set(rows.filter((r) => r.tradeState === 'REFUND').map((r) => r.outRefundNo));
  for (const o of input.orders) {
    if (o.paidThatDay && o.state === 'paid' && !paid.has(o.outTradeNo)) report(o.outTradeNo, 'trade_not_in_bill', `we hold ${o.amountFen} fen paid that day; the bill has no payment of it`);
  }
  for (const f of input.refunds) {
    if (f.succeededThatDay && f.state === 'succeeded' && !refunded.has(f.outRefundNo)) report(f.outRefundNo, 'refund_not_in_bill', `we hold ${f.amountFen} fen refunded from order ${f.outTradeNo} that day; the bill has no refund of it`);
  }
  return out;
}
