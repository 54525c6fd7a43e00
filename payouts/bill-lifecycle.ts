// Transfer bills after they are sent (README "Transfer bills"): a bill waiting for its user without a
// fresh confirm-page package gets one by a create sent again (same number, same body); a cancel that
// was asked for (an operator, or the risk re-check of persons whose bills wait) is made while WeChat
// shows the bill cancellable. A cancel's answer is never an outcome: the bill is queried until WeChat
// shows it CANCELLED (released) or SUCCESS (the user confirmed first).
import { PipelineError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { FlowQueues, FlowStep } from './flow.js';
import type { Metrics } from './metrics.js';
import { pending, type BatchParams, type Item, type ItemResult, type Provider } from './providers/provider.js';
import type { BillNeed, PayoutsStore } from './store-pg.js';

/** Transfers a sweep looks at, at most (the rest wait for the next sweep). */
const DUE_LIMIT = 5_000;

export function createBillLifecycle(deps: {
  store: PayoutsStore;
  provider: Provider;
  queues: FlowQueues;
  metrics: Metrics;
  log: Logger;
  now(): number;
  onStep?(step: FlowStep): void;
  /** Records results (and hands off what moved); returns what the bills need next. */
  record(batchNo: string, results: ItemResult[]): Promise<BillNeed[]>;
}) {
  const { store, provider, metrics, log } = deps;

  async function callCancel(batchNo: string, requestNo: string): Promise<ItemResult> {
    let result: ItemResult;
    try {
      result = await provider.cancel!(requestNo);
    } catch (err) {
      if (!(err instanceof PipelineError && err.retriable)) throw err;
      result = pending(requestNo, err.code);
    }
    deps.onStep?.('cancel_called');
    metrics.cancelCalled(result.providerState ?? result.reason ?? 'unknown');
    log.info({ batchNo, requestNo, state: result.providerState, code: result.reason }, 'payout_cancel_called');
    // WeChat's word (CANCELING) is kept, so the bill is queried as one in motion, not one waiting for its user.
    if (result.providerState) await store.recordResults(batchNo, [result]);
    return result;
  }

  /** Asks to cancel the waiting bills of persons the fraud signals flag now (they were clean when formed). */
  async function recheckRisk(due: Awaited<ReturnType<PayoutsStore['dueTransfers']>>): Promise<void> {
    const waiting = due.filter((d) => d.providerState === 'WAIT_USER_CONFIRM' && !d.cancelRequested);
    if (waiting.length === 0) return;
    try {
      const flagged = await store.fraudReasons([...new Set(waiting.map((d) => d.person))]);
      for (const d of waiting) {
        const signals = flagged.get(d.person) ?? [];
        if (signals.length === 0) continue;
        await store.requestCancel(d.payoutId, { by: 'risk', reason: 'fraud_signals', signals });
        log.warn({ payoutId: d.payoutId, requestNo: d.requestNo, signals }, 'payout_cancel_requested');
      }
    } catch (err) {
      // The bill passed the checks when it was formed; the re-check comes again with its next query.
      log.warn({ err }, 'payout_risk_recheck_failed');
    }
  }

  return {
    /** After results: fetches the packages missing or stale (a create sent again), then makes the cancels asked for. */
    async follow(
      batchNo: string,
      batch: { items: Item[]; params?: BatchParams },
      needs: BillNeed[],
      seen: (results: ItemResult[]) => void,
    ): Promise<void> {
      const stale = batch.items.filter((i) => needs.some((n) => n.requestNo === i.requestNo && n.need === 'package'));
      if (stale.length > 0 && provider.refresh) {
        const answer = await provider.refresh(batchNo, stale, batch.params!);
        deps.onStep?.('package');
        if (answer.ok) {
          seen(answer.results);
          metrics.packages(answer.results.filter((r) => r.packageInfo).length);
          await deps.record(batchNo, answer.results);
        } else {
          log.error({ batchNo, code: answer.code, message: answer.message }, 'payout_package_refresh_refused');
        }
      }
      for (const n of needs) if (n.need === 'cancel' && provider.cancel) await callCancel(batchNo, n.requestNo);
    },

    /**
     * An operator's cancel of payout `payoutId`'s bill: recorded first (so a crash or a lost answer
     * still ends in a cancel, made by the next query), then made, then the bill is queried.
     */
    async cancel(
      payoutId: string,
      detail: Record<string, unknown>,
    ): Promise<{ ok: true; result: ItemResult } | { ok: false; reason: 'unsupported' | 'not_in_flight' }> {
      if (!provider.cancel) return { ok: false, reason: 'unsupported' };
      const t = await store.requestCancel(payoutId, detail);
      if (!t) return { ok: false, reason: 'not_in_flight' };
      const result = await callCancel(t.batchNo, t.requestNo);
      await deps.queues.poll(t.batchNo, { id: `cancel-${t.requestNo}-${deps.now()}`, only: [t.requestNo] });
      return { ok: true, result };
    },

    /** The sweep's part: re-checks the risk of persons whose bills wait, then queues one query per batch naming its due transfers. */
    async due(idleMs: number): Promise<void> {
      const due = await store.dueTransfers(idleMs, DUE_LIMIT);
      await recheckRisk(due);
      const byBatch = new Map<string, { nos: string[]; dueMs: number }>();
      for (const d of due) {
        const b = byBatch.get(d.batchNo) ?? byBatch.set(d.batchNo, { nos: [], dueMs: 0 }).get(d.batchNo)!;
        b.nos.push(d.requestNo);
        b.dueMs = Math.max(b.dueMs, Number(d.dueMs));
      }
      // One job per batch and due time: a sweep that runs again before the query does adds nothing.
      for (const [batchNo, b] of byBatch)
        await deps.queues.poll(batchNo, { id: `due-${batchNo}-${b.dueMs}`, only: b.nos });
    },
  };
}
