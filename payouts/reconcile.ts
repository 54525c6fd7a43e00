// Reconciliation (pure): the operating account's fund flows, kept across every day read, against
// the transfers the ledger knows. Per voucher (业务凭证号: the request number, or WeChat's id) the
// net of its debits and refunds is what WeChat kept. For a v3 batch or v2 transfer a debit is a
// payment: what it proves is applied (settle, release, reverse). For a transfer bill a debit is a
// lock taken at WAIT_USER_CONFIRM and given back on close or cancel: reconciliation settles nothing
// (queries do), it explains the money (locked, released) and queues a query where the two disagree.
// What nothing explains is reported. The trade bill of the same day: reconcile-trades.ts.
import { fen, type Fen } from '../common/money.js';

export type Api = 'v3_bill' | 'v3_batch' | 'v2_transfer';
/** One row of a fund-flow bill. */
export interface BillRow {
  flowNo: string;
  wechatNo: string;
  business: string;
  inOut: string;
  amountFen: Fen;
  remark: string;
  voucherNo: string;
}
/** A row kept in operating_flows, with the China day of the bill it came from. */
export interface Flow {
  voucherNo: string;
  wechatNo: string;
  inOut: 'in' | 'out';
  amountFen: Fen;
  billDate: string;
}
/** `failedOn`: the China day WeChat's failure was recorded here, if it was. */
export interface KnownTransfer {
  requestNo: string;
  providerId: string;
  batchNo: string;
  api: Api;
  amountFen: Fen;
  state: string;
  paidThatDay: boolean;
  failedOn?: string;
}
export type DiscrepancyKind = 'unknown_to_ledger' | 'amount_mismatch' | 'paid_not_in_bill' | 'refund_missing';
export const FUNDFLOW_KINDS: readonly DiscrepancyKind[] = [
  'unknown_to_ledger',
  'amount_mismatch',
  'paid_not_in_bill',
  'refund_missing',
];
export interface Discrepancy<K extends string = DiscrepancyKind> {
  requestNo: string;
  kind: K;
  detail: string;
}
export interface Reconciliation {
  settle: KnownTransfer[];
  release: KnownTransfer[];
  reverse: KnownTransfer[];
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
export function yuanToFen(yuan: string): Fen {
  const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(yuan.trim());
  if (!m) throw new Error(`not an amount in yuan: ${yuan}`);
  return fen(BigInt(m[1]!) * 100n + BigInt((m[2] ?? '').padEnd(2, '0')));
}

/** A bill split into fields: its columns by name, its rows, and its summary line's values by name. */
export interface BillTable {
  col(name: string): number;
  rows: string[][];
  summary?: Map<string, string>;
}

/**
 * A bill in WeChat's CSV (fund flow or trade alike): UTF-8 BOM, a plain header, then rows whose every
 * field starts with a backtick, so a field may hold commas and quotes as they are (fields are split
 * on "," followed by a backtick, never on a bare comma), then the plain summary header (its first
 * name is `summaryHeader`) and its values. Undefined for an empty text (a day without a bill).
 */
export function splitBill(text: string, summaryHeader: string): BillTable | undefined {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((l) => l.length > 0);
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
    if (f.length !== header.length)
      throw new Error(`bill row ${i + 1} has ${f.length} fields, the header ${header.length}`);
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
    flowNo: col('资金流水单号'),
    wechatNo: col('微信支付业务单号'),
    business: col('业务名称'),
    inOut: col('收支类型'),
    amount: col('收支金额(元)'),
    remark: col('备注'),
    voucherNo: col('业务凭证号'),
  };
  return bill.rows.map((f) => ({
    flowNo: f[at.flowNo]!,
    wechatNo: f[at.wechatNo]!,
    business: f[at.business]!,
    inOut: f[at.inOut]!,
    amountFen: yuanToFen(f[at.amount]!),
    remark: f[at.remark]!,
    voucherNo: f[at.voucherNo]!,
  }));
}

/** A bill row as kept: 收入 is money in, 支出 money out. */
export const toFlow = (r: BillRow, billDate: string): Flow => ({
  voucherNo: r.voucherNo,
  wechatNo: r.wechatNo,
  inOut: r.inOut === '支出' ? 'out' : 'in',
  amountFen: r.amountFen,
  billDate,
});

const daysBetween = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000);

/**
 * Reconciles day `day`: the vouchers with a flow that day, those of `recheck` (open discrepancies)
 * and those of failed bills whose refund is due, each over all of its flows in `flows` (every day
 * read), against `known`.
 */
export function reconcile(input: {
  day: string;
  flows: Flow[];
  known: KnownTransfer[];
  recheck?: string[];
}): Reconciliation {
  const { day, flows, known } = input;
  const byKey = new Map<string, KnownTransfer>();
  for (const t of known) {
    byKey.set(t.requestNo, t);
    if (t.providerId) byKey.set(t.providerId, t);
  }
  // Flows per transfer (by request number or WeChat id), or per voucher nobody knows: fen out and fen back.
  const groups = new Map<
    string,
    { t?: KnownTransfer; voucher: string; out: bigint; back: bigint; today: boolean; debitedBy?: string }
  >();
  for (const f of flows) {
    const t = byKey.get(f.voucherNo) ?? byKey.get(f.wechatNo);
    const key = t?.requestNo ?? f.voucherNo;
    const g = groups.get(key) ?? { t, voucher: f.voucherNo, out: 0n, back: 0n, today: false };
    if (f.inOut === 'out') {
      g.out += f.amountFen;
      if (!g.debitedBy || f.billDate < g.debitedBy) g.debitedBy = f.billDate;
    } else g.back += f.amountFen;
    g.today ||= f.billDate === day;
    groups.set(key, g);
  }
  const recheck = new Set(input.recheck ?? []);
  const out: Reconciliation = {
    settle: [],
    release: [],
    reverse: [],
    query: [],
    matched: 0,
    locked: 0,
    discrepancies: [],
    evaluated: [],
  };
  const report = (requestNo: string, kind: DiscrepancyKind, detail: string) =>
    out.discrepancies.push({ requestNo, kind, detail });

  // A failed bill's refund is looked for again once its grace is over, whether or not it has a flow that day.
  const refundDue = (t?: KnownTransfer) =>
    t?.api === 'v3_bill' && t.state === 'failed' && !!t.failedOn && daysBetween(t.failedOn, day) >= REFUND_GRACE_DAYS;
  for (const [key, g] of groups) {
    if (!g.today && !recheck.has(key) && !refundDue(g.t)) continue;
    out.evaluated.push(key);
    if (g.out === 0n) continue; // money in that is not a returned transfer: a top-up, a move between accounts
    const t = g.t;
    const kept = g.out - g.back; // below zero when more came back than went out: a plain bigint, not Fen
    if (!t) {
      report(key, 'unknown_to_ledger', `the bill shows ${kept} fen paid under a number the ledger does not know`);
      continue;
    }
    if (kept !== 0n && kept !== t.amountFen) {
      report(key, 'amount_mismatch', `the bill shows ${kept} fen, the ledger ${t.amountFen}`);
      continue;
    }
    if (t.api === 'v3_bill') bill(t, kept);
    else payment(t, kept);
  }

  /** v3 batches and v2: a debit is the payment. */
  function payment(t: KnownTransfer, kept: bigint) {
    if (kept > 0n) {
      if (t.state === 'batched') out.settle.push(t);
      else if (t.state === 'succeeded') out.matched++;
      else
        report(
          t.requestNo,
          'unknown_to_ledger',
          `the bill shows ${kept} fen paid, the ledger has the transfer ${t.state}`,
        );
    } else if (t.state === 'succeeded') out.reverse.push(t);
    else if (t.state === 'batched') out.release.push(t);
    else out.matched++;
  }
  /** Transfer bills: a debit is a lock until the user confirms; closed or cancelled, it comes back. */
  function bill(t: KnownTransfer, kept: bigint) {
    if (kept > 0n) {
      if (t.state === 'batched') out.locked++;
      else if (t.state === 'succeeded') out.matched++;
      else if (t.state === 'failed' && (!t.failedOn || daysBetween(t.failedOn, day) < REFUND_GRACE_DAYS)) out.locked++;
      else if (t.state === 'failed')
        report(
          t.requestNo,
          'refund_missing',
          `the bill failed on ${t.failedOn}; the ${kept} fen it locked have not come back in any bill read`,
        );
      else
        report(
          t.requestNo,
          'unknown_to_ledger',
          `the bill shows ${kept} fen paid, the ledger has the transfer ${t.state}`,
        );
    } else if (t.state === 'batched')
      out.query.push(t); // the money came back: a query will show the bill closed or cancelled
    else if (t.state === 'succeeded') {
      out.query.push(t);
      report(
        t.requestNo,
        'unknown_to_ledger',
        'the bill shows the money back, the ledger has the transfer paid; a query is queued',
      );
    } else out.matched++;
  }

  // Paid this day (or reported so before), with no debit in any bill read up to this day.
  for (const t of known) {
    const again = recheck.has(t.requestNo);
    if (!t.paidThatDay && !again) continue;
    if (!out.evaluated.includes(t.requestNo)) out.evaluated.push(t.requestNo);
    const debitedBy = groups.get(t.requestNo)?.debitedBy;
    if (t.state === 'succeeded' && (!debitedBy || (t.paidThatDay && debitedBy > day))) {
      report(
        t.requestNo,
        'paid_not_in_bill',
        `the ledger paid ${t.amountFen} fen; no bill read up to its day shows it`,
      );
    }
  }
  return out;
}
