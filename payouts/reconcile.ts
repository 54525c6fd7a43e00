// Reconciliation (pure): a day's fund-flow bill against the transfers the ledger knows. The bill
// proves what was paid (支出 rows) and what came back (收入 rows under the same voucher, the request
// number); what it proves is applied (settle a transfer still in flight, reverse one failed after
// paying); what neither side explains is reported.
export interface BillRow { voucherNo: string; inOut: string; amountFen: number }
export interface KnownTransfer { requestNo: string; batchNo: string; amountFen: number; state: string; paidThatDay: boolean }
export type DiscrepancyKind = 'unknown_to_ledger' | 'amount_mismatch' | 'paid_not_in_bill';
export interface Discrepancy { requestNo: string; kind: DiscrepancyKind; detail: string }
export interface Reconciliation { settle: KnownTransfer[]; release: KnownTransfer[]; reverse: KnownTransfer[]; matched: number; discrepancies: Discrepancy[] }

/** Yuan with two decimals ("12.30") to fen, without floating point. */
export function yuanToFen(yuan: string): number {
  const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(yuan.trim());
  if (!m) throw new Error(`not an amount in yuan: ${yuan}`);
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}

/** The rows of a fund-flow bill: UTF-8 BOM, a header, backtick-prefixed fields, two summary lines. */
export function parseFundflowBill(text: string): BillRow[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.length === 0) return []; // a day without movements has no bill (NO_STATEMENT_EXIST)
  const header = lines[0]?.split(',') ?? [];
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`the bill has no column ${name}`);
    return i;
  };
  const [inOut, amount, voucher] = [col('收支类型'), col('收支金额(元)'), col('业务凭证号')];
  const end = lines.findIndex((l) => l.startsWith('资金流水总笔数'));
  return lines.slice(1, end < 0 ? undefined : end).map((line) => {
    const f = line.split(',').map((v) => v.replace(/^`/, ''));
    return { voucherNo: f[voucher]!, inOut: f[inOut]!, amountFen: yuanToFen(f[amount]!) };
  });
}

export function reconcile(bill: BillRow[], known: KnownTransfer[]): Reconciliation {
  const byNo = new Map(known.map((t) => [t.requestNo, t]));
  const net = new Map<string, { paid: number; back: number }>();
  for (const r of bill) {
    const n = net.get(r.voucherNo) ?? { paid: 0, back: 0 };
    if (r.inOut === '支出') n.paid += r.amountFen;
    else if (r.inOut === '收入') n.back += r.amountFen;
    net.set(r.voucherNo, n);
  }
  const out: Reconciliation = { settle: [], release: [], reverse: [], matched: 0, discrepancies: [] };
  const report = (requestNo: string, kind: DiscrepancyKind, detail: string) => out.discrepancies.push({ requestNo, kind, detail });
  for (const [no, { paid, back }] of net) {
    if (paid === 0) continue; // money in that is not a returned transfer: a top-up
    const t = byNo.get(no);
    const kept = paid - back;
    if (!t) report(no, 'unknown_to_ledger', `the bill shows ${kept} fen paid under a number the ledger does not know`);
    else if (kept > 0 && kept !== t.amountFen) report(no, 'amount_mismatch', `the bill shows ${kept} fen, the ledger ${t.amountFen}`);
    else if (kept > 0) {
      if (t.state === 'batched') out.settle.push(t);
      else if (t.state === 'succeeded') out.matched++;
      else report(no, 'unknown_to_ledger', `the bill shows ${kept} fen paid, the ledger has the transfer ${t.state}`);
    } else if (t.state === 'succeeded') out.reverse.push(t);
    else if (t.state === 'batched') out.release.push(t);
    else out.matched++;
  }
  for (const t of known) {
    if (t.paidThatDay && t.state === 'succeeded' && !net.has(t.requestNo)) report(t.requestNo, 'paid_not_in_bill', `the ledger paid ${t.amountFen} fen this day; the bill does not show it`);
  }
  return out;
}
