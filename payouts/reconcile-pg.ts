// Runs a reconciliation: fetches the day's fund-flow bill of the operating account from the
// provider, keeps its rows (operating_flows), compares every voucher's flows over all days read with
// Postgres (reconcile.ts), applies what the bill proves for batches and v2 through the same path as a
// query result (so the ledger hears of it once), queues queries for transfer bills the bill disagrees
// with, and saves the run and what it could not explain.
import type pg from 'pg';
import { PipelineError } from '../common/errors.js';
import { loadSql } from '../common/sql.js';
import type { FlowQueues } from './flow.js';
import type { Metrics } from './metrics.js';
import type { Provider } from './providers/provider.js';
import { parseFundflowBill, reconcile, toFlow, type Api, type Flow, type KnownTransfer } from './reconcile.js';
import type { PayoutsStore } from './store-pg.js';

const sql = loadSql(new URL('./sql/', import.meta.url), ['reconcile-transfers', 'save-reconciliation', 'open-discrepancies', 'save-operating-flows', 'voucher-flows'] as const);

/** The China calendar day (yyyy-MM-dd) at `nowMs`. */
export const chinaDay = (nowMs: number) => new Date(nowMs + 8 * 3_600_000).toISOString().slice(0, 10);
/** Yesterday as a China calendar day: the day whose bill is ready after 10:00. */
export const chinaYesterday = (nowMs: number) => chinaDay(nowMs - 86_400_000);

export function createReconciler(deps: { pool: pg.Pool; provider: Provider; store: PayoutsStore; queues: Pick<FlowQueues, 'outcomes' | 'poll'>; metrics: Metrics; now?(): number }) {
  const now = deps.now ?? Date.now;
  return {
    async run(day: string) {
      const bill = await deps.provider.bill(day);
      if (!bill.ok) throw new PipelineError(`bill_${bill.reason}`, `the bill of ${day} is not available: ${bill.detail}`, { retriable: true });
      const rows = (() => {
        try {
          return parseFundflowBill(bill.text);
        } catch (err) {
          throw new PipelineError('bill_malformed', `the bill of ${day} is not in WeChat's format: ${(err as Error).message}`, { retriable: false, cause: err });
        }
      })();
      const kept = rows.map((r) => toFlow(r, day));
      await deps.pool.query(sql['save-operating-flows'], [
        day, rows.map((r) => r.flowNo), rows.map((r) => r.voucherNo), rows.map((r) => r.wechatNo), kept.map((f) => f.inOut),
        rows.map((r) => r.amountFen), rows.map((r) => r.business), rows.map((r) => r.remark),
      ]);
      const recheck = [...new Set((await this.open()).map((d) => d.request_no))];
      const vouchers = [...new Set([...rows.map((r) => r.voucherNo), ...rows.map((r) => r.wechatNo).filter(Boolean), ...recheck])];
      const { rows: found } = await deps.pool.query<{ request_no: string; provider_id: string; batch_no: string; api: string; amount_fen: string; state: string; paid_that_day: boolean; failed_on: string | null }>(
        sql['reconcile-transfers'], [vouchers, day]);
      const known = found.map((r): KnownTransfer => ({
        requestNo: r.request_no, providerId: r.provider_id, batchNo: r.batch_no, api: r.api as Api, amountFen: Number(r.amount_fen), state: r.state,
        paidThatDay: r.paid_that_day, ...(r.failed_on ? { failedOn: r.failed_on } : {}),
      }));
      const keys = [...new Set([...vouchers, ...known.flatMap((t) => (t.providerId ? [t.requestNo, t.providerId] : [t.requestNo]))])];
      const { rows: stored } = await deps.pool.query<{ voucher_no: string; wechat_no: string; in_out: 'in' | 'out'; amount_fen: string; bill_date: string }>(sql['voucher-flows'], [keys]);
      const flows = stored.map((f): Flow => ({ voucherNo: f.voucher_no, wechatNo: f.wechat_no, inOut: f.in_out, amountFen: Number(f.amount_fen), billDate: f.bill_date }));
      const result = reconcile({ day, flows, known, recheck });

      // Recorded per batch, like a query's results, and handed to the ledger as one list.
      const byBatch = (list: KnownTransfer[]) => {
        const batches = new Map<string, KnownTransfer[]>();
        for (const t of list) batches.set(t.batchNo, [...(batches.get(t.batchNo) ?? []), t]);
        return batches;
      };
      const apply = async (list: KnownTransfer[], outcome: 'succeeded' | 'failed', reason: string) => {
        const moved = [];
        for (const [batchNo, ts] of byBatch(list)) moved.push(...await deps.store.record(batchNo, ts.map((t) => ({ requestNo: t.requestNo, outcome, reason }))));
        await deps.queues.outcomes(moved);
      };
      await apply(result.settle, 'succeeded', 'reconciliation: paid in the bill');
      await apply([...result.release, ...result.reverse], 'failed', 'reconciliation: returned in the bill');
      // Transfer bills: a query of each, in flight (only) or paid (recheck), settles it; this run does not.
      for (const [batchNo, ts] of byBatch(result.query)) {
        const [recheck, only] = [ts.filter((t) => t.state === 'succeeded'), ts.filter((t) => t.state !== 'succeeded')].map((l) => l.map((t) => t.requestNo));
        await deps.queues.poll(batchNo, { id: `reconcile-${day}-${batchNo}-${now()}`, recheck, only });
      }
      const d = result.discrepancies;
      await deps.pool.query(sql['save-reconciliation'], [
        day, rows.length, result.matched, result.settle.length, result.release.length, result.reverse.length, d.length, result.locked, result.query.length,
        d.map((x) => x.requestNo), d.map((x) => x.kind), d.map((x) => x.detail), result.evaluated,
      ]);
      const open = await this.open();
      deps.metrics.unexplained(open.length);
      return {
        day, billRows: rows.length, matched: result.matched, settled: result.settle.length, released: result.release.length, reversed: result.reverse.length,
        locked: result.locked, queried: result.query.length, unexplained: d,
      };
    },
    async open() {
      return (await deps.pool.query<{ bill_date: Date; request_no: string; kind: string; detail: string }>(sql['open-discrepancies'])).rows;
    },
  };
}
