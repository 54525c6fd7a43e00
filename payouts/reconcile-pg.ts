// Runs a reconciliation of a China day: fetches the operating account's fund-flow bill from the
// provider, keeps its rows (operating_flows), compares every voucher's flows over all days read with
// Postgres (reconcile.ts), applies what the bill proves for batches and v2 through the same path as a
// query result (so the ledger hears of it once), and queues queries for transfer bills the bill
// disagrees with. In the same run, the day's trade bill (PayIn.tradeBill) against the top-up orders
// and refunds: what it shows further on than here is asked again first. Saves the run, with what
// neither part could explain.
import type pg from 'pg';
import { PipelineError } from '../common/errors.js';
import { fen } from '../common/money.js';
import { loadSql } from '../common/sql.js';
import type { FlowQueues } from './flow.js';
import type { Metrics } from './metrics.js';
import type { Provider } from './providers/provider.js';
import {
  FUNDFLOW_KINDS,
  parseFundflowBill,
  reconcile,
  toFlow,
  type Api,
  type Flow,
  type KnownTransfer,
} from './reconcile.js';
import {
  parseTradeBill,
  reconcileTrades,
  TRADE_KINDS,
  type KnownOrder,
  type KnownRefund,
  type TradeRow,
} from './reconcile-trades.js';
import type { PayoutsStore } from './store-pg.js';
import type { PayIn } from './topups/pay-in.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'reconcile-transfers',
  'save-reconciliation',
  'open-discrepancies',
  'save-operating-flows',
  'voucher-flows',
  'trade-orders',
  'trade-refunds',
] as const);

/** The China calendar day (yyyy-MM-dd) at `nowMs`. */
export const chinaDay = (nowMs: number) => new Date(nowMs + 8 * 3_600_000).toISOString().slice(0, 10);
/** Yesterday as a China calendar day: the day whose bill is ready after 10:00. */
export const chinaYesterday = (nowMs: number) => chinaDay(nowMs - 86_400_000);

/** Ask WeChat again about what the trade bill shows further on than here, and apply the answer (the top-up flow's query + apply). */
export interface TradeRechecks {
  recheckOrder?(outTradeNo: string): Promise<unknown>;
  recheckRefund?(outRefundNo: string): Promise<unknown>;
}
export interface ReconcilerDeps extends TradeRechecks {
  pool: pg.Pool;
  provider: Pick<Provider, 'bill'>;
  store: Pick<PayoutsStore, 'record'>;
  queues: Pick<FlowQueues, 'outcomes' | 'poll'>;
  metrics: Metrics;
  now?(): number;
  /** Where the trade bill comes from; without it, the trade bill is not read. */
  payIn?: Pick<PayIn, 'tradeBill'>;
}

type Fetched = { ok: true; text: string } | { ok: false; reason: string; detail: string };
/** A bill's rows; not made yet or not served is retriable, not in WeChat's format is poison. */
async function read<T>(
  what: 'bill' | 'trade_bill',
  day: string,
  fetch: () => Promise<Fetched>,
  parse: (text: string) => T,
): Promise<T> {
  const name = what === 'bill' ? 'bill' : 'trade bill';
  const bill = await fetch();
  if (!bill.ok)
    throw new PipelineError(`${what}_${bill.reason}`, `the ${name} of ${day} is not available: ${bill.detail}`, {
      retriable: true,
    });
  try {
    return parse(bill.text);
  } catch (err) {
    throw new PipelineError(
      `${what}_malformed`,
      `the ${name} of ${day} is not in WeChat's format: ${(err as Error).message}`,
      { retriable: false, cause: err },
    );
  }
}

export function createReconciler(deps: ReconcilerDeps) {
  const now = deps.now ?? Date.now;

  /** The trade bill's rows against the orders and refunds; what it shows further on is asked again, then judged once more. */
  async function trades(day: string, rows: TradeRow[]) {
    const load = async () => {
      const [orders, refunds] = await Promise.all([
        deps.pool.query<{
          out_trade_no: string;
          amount_fen: string;
          state: string;
          transaction_id: string;
          paid_that_day: boolean;
        }>(sql['trade-orders'], [rows.filter((r) => r.tradeState !== 'REFUND').map((r) => r.outTradeNo), day]),
        deps.pool.query<{
          out_refund_no: string;
          out_trade_no: string;
          amount_fen: string;
          state: string;
          succeeded_that_day: boolean;
        }>(sql['trade-refunds'], [rows.filter((r) => r.tradeState === 'REFUND').map((r) => r.outRefundNo), day]),
      ]);
      return {
        orders: orders.rows.map((o): KnownOrder => ({
          outTradeNo: o.out_trade_no,
          amountFen: fen(o.amount_fen),
          state: o.state,
          transactionId: o.transaction_id,
          paidThatDay: o.paid_that_day,
        })),
        refunds: refunds.rows.map((r): KnownRefund => ({
          outRefundNo: r.out_refund_no,
          outTradeNo: r.out_trade_no,
          amountFen: fen(r.amount_fen),
          state: r.state,
          succeededThatDay: r.succeeded_that_day,
        })),
      };
    };
    const first = reconcileTrades({ rows, ...(await load()) });
    if (first.recheckOrders.length === 0 && first.recheckRefunds.length === 0) return first;
    const asked = { orders: new Set<string>(), refunds: new Set<string>() };
    for (const no of deps.recheckOrder ? first.recheckOrders : []) {
      await deps.recheckOrder!(no);
      asked.orders.add(no);
    }
    for (const no of deps.recheckRefund ? first.recheckRefunds : []) {
      await deps.recheckRefund!(no);
      asked.refunds.add(no);
    }
    return reconcileTrades({ rows, ...(await load()), asked });
  }

  return {
    async run(day: string) {
      // Both bills are read before anything is kept: one not ready or not in WeChat's format fails the run.
      const rows = await read('bill', day, () => deps.provider.bill(day), parseFundflowBill);
      const tradeRows = deps.payIn
        ? await read('trade_bill', day, () => deps.payIn!.tradeBill(day), parseTradeBill)
        : undefined;
      const kept = rows.map((r) => toFlow(r, day));
      await deps.pool.query(sql['save-operating-flows'], [
        day,
        rows.map((r) => r.flowNo),
        rows.map((r) => r.voucherNo),
        rows.map((r) => r.wechatNo),
        kept.map((f) => f.inOut),
        rows.map((r) => r.amountFen),
        rows.map((r) => r.business),
        rows.map((r) => r.remark),
      ]);
      const recheck = [
        ...new Set(
          (await this.open())
            .filter((d) => (FUNDFLOW_KINDS as readonly string[]).includes(d.kind))
            .map((d) => d.request_no),
        ),
      ];
      const vouchers = [
        ...new Set([...rows.map((r) => r.voucherNo), ...rows.map((r) => r.wechatNo).filter(Boolean), ...recheck]),
      ];
      const { rows: found } = await deps.pool.query<{
        request_no: string;
        provider_id: string;
        batch_no: string;
        api: string;
        amount_fen: string;
        state: string;
        paid_that_day: boolean;
        failed_on: string | null;
      }>(sql['reconcile-transfers'], [vouchers, day]);
      const known = found.map((r): KnownTransfer => ({
        requestNo: r.request_no,
        providerId: r.provider_id,
        batchNo: r.batch_no,
        api: r.api as Api,
        amountFen: fen(r.amount_fen),
        state: r.state,
        paidThatDay: r.paid_that_day,
        ...(r.failed_on ? { failedOn: r.failed_on } : {}),
      }));
      const keys = [
        ...new Set([
          ...vouchers,
          ...known.flatMap((t) => (t.providerId ? [t.requestNo, t.providerId] : [t.requestNo])),
        ]),
      ];
      const { rows: stored } = await deps.pool.query<{
        voucher_no: string;
        wechat_no: string;
        in_out: 'in' | 'out';
        amount_fen: string;
        bill_date: string;
      }>(sql['voucher-flows'], [keys]);
      const flows = stored.map((f): Flow => ({
        voucherNo: f.voucher_no,
        wechatNo: f.wechat_no,
        inOut: f.in_out,
        amountFen: fen(f.amount_fen),
        billDate: f.bill_date,
      }));
      const result = reconcile({ day, flows, known, recheck });

      // Recorded per batch, like a query's results, and handed to the ledger as one list.
      const byBatch = (list: KnownTransfer[]) => {
        const batches = new Map<string, KnownTransfer[]>();
        for (const t of list) batches.set(t.batchNo, [...(batches.get(t.batchNo) ?? []), t]);
        return batches;
      };
      const apply = async (list: KnownTransfer[], outcome: 'succeeded' | 'failed', reason: string) => {
        const moved = [];
        for (const [batchNo, ts] of byBatch(list))
          moved.push(
            ...(await deps.store.record(
              batchNo,
              ts.map((t) => ({ requestNo: t.requestNo, outcome, reason })),
            )),
          );
        await deps.queues.outcomes(moved);
      };
      await apply(result.settle, 'succeeded', 'reconciliation: paid in the bill');
      await apply([...result.release, ...result.reverse], 'failed', 'reconciliation: returned in the bill');
      // Transfer bills: a query of each, in flight (only) or paid (recheck), settles it; this run does not.
      for (const [batchNo, ts] of byBatch(result.query)) {
        const [recheck, only] = [
          ts.filter((t) => t.state === 'succeeded'),
          ts.filter((t) => t.state !== 'succeeded'),
        ].map((l) => l.map((t) => t.requestNo));
        await deps.queues.poll(batchNo, { id: `reconcile-${day}-${batchNo}-${now()}`, recheck, only });
      }

      const traded = tradeRows && (await trades(day, tradeRows));
      const d = result.discrepancies;
      const td = traded?.discrepancies ?? [];
      const all = [...d, ...td];
      await deps.pool.query(sql['save-reconciliation'], [
        day,
        rows.length,
        result.matched,
        result.settle.length,
        result.release.length,
        result.reverse.length,
        d.length,
        result.locked,
        result.query.length,
        all.map((x) => x.requestNo),
        all.map((x) => x.kind),
        all.map((x) => x.detail),
        result.evaluated,
        tradeRows?.length ?? 0,
        traded ? traded.matched + traded.rechecked : 0,
        td.length,
        FUNDFLOW_KINDS,
        traded ? TRADE_KINDS : [],
      ]);
      const open = await this.open();
      deps.metrics.unexplained(open.length);
      return {
        day,
        billRows: rows.length,
        matched: result.matched,
        settled: result.settle.length,
        released: result.release.length,
        reversed: result.reverse.length,
        locked: result.locked,
        queried: result.query.length,
        unexplained: d,
        /** The trade bill's part; undefined when no trade bill is read (no PayIn). */
        trade: traded && {
          billRows: tradeRows!.length,
          matched: traded.matched,
          rechecked: traded.rechecked,
          attention: traded.attention,
          unexplained: td,
        },
      };
    },
    async open() {
      return (
        await deps.pool.query<{ bill_date: Date; request_no: string; kind: string; detail: string }>(
          sql['open-discrepancies'],
        )
      ).rows;
    },
  };
}
