// Runs a reconciliation: fetches the day's bill from the provider, compares it with Postgres
// (reconcile.ts), applies what the bill proves through the same path as a query result (so the
// ledger hears of it once), and saves the run and what it could not explain.
import type pg from 'pg';
import { PipelineError } from '../common/errors.js';
import { loadSql } from '../common/sql.js';
import type { FlowQueues } from './flow.js';
import type { Metrics } from './metrics.js';
import type { Provider } from './providers/provider.js';
import { parseFundflowBill, reconcile, type KnownTransfer } from './reconcile.js';
import type { PayoutsStore } from './store-pg.js';

const sql = loadSql(new URL('./sql/', import.meta.url), ['reconcile-transfers', 'save-reconciliation', 'open-discrepancies'] as const);

/** The China calendar day (yyyy-MM-dd) at `nowMs`. */
export const chinaDay = (nowMs: number) => new Date(nowMs + 8 * 3_600_000).toISOString().slice(0, 10);
/** Yesterday as a China calendar day: the day whose bill is ready after 10:00. */
export const chinaYesterday = (nowMs: number) => chinaDay(nowMs - 86_400_000);

export function createReconciler(deps: { pool: pg.Pool; provider: Provider; store: PayoutsStore; queues: Pick<FlowQueues, 'outcomes'>; metrics: Metrics }) {
  return {
    async run(day: string) {
      const bill = await deps.provider.bill(day);
      if (!bill.ok) throw new PipelineError(`bill_${bill.reason}`, `the bill of ${day} is not available: ${bill.detail}`, { retriable: true });
      const rows = parseFundflowBill(bill.text);
      const { rows: found } = await deps.pool.query<{ request_no: string; batch_no: string; amount_fen: string; state: string; paid_that_day: boolean }>(
        sql['reconcile-transfers'], [[...new Set(rows.map((r) => r.voucherNo))], day]);
      const known = found.map((r): KnownTransfer => ({ requestNo: r.request_no, batchNo: r.batch_no, amountFen: Number(r.amount_fen), state: r.state, paidThatDay: r.paid_that_day }));
      const result = reconcile(rows, known);
      // Recorded per batch, like a query's results, and handed to the ledger as one list.
      const apply = async (list: KnownTransfer[], outcome: 'succeeded' | 'failed', reason: string) => {
        const byBatch = new Map<string, string[]>();
        for (const t of list) byBatch.set(t.batchNo, [...(byBatch.get(t.batchNo) ?? []), t.requestNo]);
        const moved = [];
        for (const [batchNo, requestNos] of byBatch) moved.push(...await deps.store.record(batchNo, requestNos.map((requestNo) => ({ requestNo, outcome, reason }))));
        await deps.queues.outcomes(moved);
      };
      await apply(result.settle, 'succeeded', 'reconciliation: paid in the bill');
      await apply([...result.release, ...result.reverse], 'failed', 'reconciliation: returned in the bill');
      const d = result.discrepancies;
      await deps.pool.query(sql['save-reconciliation'], [
        day, rows.length, result.matched, result.settle.length, result.release.length, result.reverse.length, d.length,
        d.map((x) => x.requestNo), d.map((x) => x.kind), d.map((x) => x.detail),
      ]);
      const open = await this.open();
      deps.metrics.unexplained(open.length);
      return { day, billRows: rows.length, matched: result.matched, settled: result.settle.length, released: result.release.length, reversed: result.reverse.length, unexplained: d };
    },
    async open() {
      return (await deps.pool.query<{ bill_date: Date; request_no: string; kind: string; detail: string }>(sql['open-discrepancies'])).rows;
    },
  };
}
