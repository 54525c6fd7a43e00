// The payout flow, one step per job: form batches (risk checks first), submit a batch, query it until
// every transfer is final, and hand each outcome to the ledger. Every step reads its state from
// Postgres and may run again after a crash: a resubmission or a query reuses the same numbers, and
// an outcome is recorded before it is handed off. The sweep is the clock: it queries v3 batches every
// pollMs, and each transfer of the per-transfer products (bills, v2) when its own next query is due
// (a bill waiting for its user rarely: its callback comes); a callback queries at once. It also
// resubmits formed batches whose job was lost and hands off outcomes a crash dropped. Every batch move
// names the state it starts from (a guarded update): one that finds the batch elsewhere changes
// nothing and is logged. Only a submit moves a formed batch, so a batch that was never sent is never
// taken for one that was. Transfer bills: bill-lifecycle.ts (package, cancel, risk re-check).
import { PipelineError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { createBillLifecycle } from './bill-lifecycle.js';
import type { Metrics } from './metrics.js';
import type { Answer, Item, ItemResult, Provider } from './providers/provider.js';
import type { BatchState, Outcome, PayoutsStore } from './store-pg.js';

export interface FlowQueues {
  submit(batchNo: string): Promise<void>;
  /**
   * A query of the batch now; `id` dedupes (a callback's notification id, a sweep's idle period).
   * `only`: the per-transfer products query just these transfers (due, or asked for).
   */
  poll(batchNo: string, opts: { id: string; recheck?: string[]; only?: string[] }): Promise<void>;
  outcomes(outcomes: { payoutId: string; outcome: Outcome }[]): Promise<void>;
}

/** Test hook: called at each step, so a test can kill the process exactly there. */
export type FlowStep = 'formed' | 'called' | 'recorded' | 'package' | 'cancel_called';

export function createPayoutFlow(
  config: { pollMs: number; sweepIdleMs: number },
  deps: {
    store: PayoutsStore;
    provider: Provider;
    queues: FlowQueues;
    metrics: Metrics;
    log: Logger;
    onStep?(step: FlowStep): void;
    now?(): number;
  },
) {
  const { store, provider, queues, metrics } = deps;
  const log = deps.log.child({ mod: 'flow' });
  /** v3 batches are queried whole; the other products one transfer at a time. */
  const perTransfer = provider.api !== 'v3_batch';

  /** Records results and hands off what moved; returns what bills need next (a package, a cancel). */
  async function record(batchNo: string, results: ItemResult[]) {
    const { moved, needs } = await store.recordResults(batchNo, results);
    deps.onStep?.('recorded');
    const held = results.filter((r) => r.outcome === 'held');
    if (held.length > 0) {
      // One transfer refused alone (a parameter, a number reused): it waits in review, the batch goes on.
      metrics.outcome('held', held.length);
      log.error(
        { batchNo, held: held.map((r) => ({ requestNo: r.requestNo, code: r.reason, message: r.message })) },
        'payout_transfer_held',
      );
    }
    for (const m of moved) metrics.outcome(m.outcome);
    await queues.outcomes(moved);
    return needs;
  }
  const care = createBillLifecycle({
    store,
    provider,
    queues,
    metrics,
    log,
    record,
    onStep: deps.onStep,
    now: deps.now ?? Date.now,
  });

  /** Moves the batch from `from` to `to`; when another worker moved it first, nothing changes (logged). */
  async function move(
    batchNo: string,
    from: BatchState,
    to: BatchState,
    opts: { detail?: string; providerBatchId?: string } = {},
  ): Promise<void> {
    if (!(await store.moveBatch(batchNo, from, to, opts)))
      log.warn({ batchNo, from, to }, 'payout_batch_transition_skipped');
  }

  /** A refusal that is neither retriable nor final: the money stays held until a person looks. */
  async function attention(batchNo: string, from: BatchState, answer: Extract<Answer, { ok: false }>): Promise<void> {
    metrics.attention();
    log.error(
      { batchNo, code: answer.code, message: answer.message, meaning: answer.error.meaning },
      'payout_batch_needs_attention',
    );
    if (from !== 'finished') await move(batchNo, from, 'attention', { detail: `${answer.code}: ${answer.message}` });
  }

  /**
   * After results: a batch with nothing pending is finished; a submitted one still pending is touched,
   * so the sweep queries it again in pollMs. A finished batch (a recheck) stays as it is.
   */
  async function settle(batchNo: string, from: BatchState, pending: number, providerBatchId?: string): Promise<void> {
    if (pending === 0 && from !== 'finished') return move(batchNo, from, 'finished', { providerBatchId });
    if (pending > 0 && from === 'submitted') return move(batchNo, from, 'submitted', { providerBatchId });
  }

  /**
   * The batch's transfers still in flight, as results come in. Its pending count once they are
   * recorded: for the per-transfer products, whose transfers are queried one by one (and at once, by
   * two polls), read again from Postgres unless none is left of those the batch had.
   */
  function inFlight(batchNo: string, items: (Item & { state: string })[]) {
    const open = new Set(items.filter((i) => i.state === 'batched').map((i) => i.requestNo));
    return {
      seen: (results: ItemResult[]) => results.forEach((r) => r.outcome !== 'pending' && open.delete(r.requestNo)),
      pending: async () => (perTransfer && open.size > 0 ? store.pendingIn(batchNo) : open.size),
    };
  }

  return {
    /** Forms every batch that is due and queues its submission. */
    async form(): Promise<void> {
      await store.acceptAll(10_000);
      for (;;) {
        const { batchNo, held } = await store.formBatch();
        metrics.held(held);
        if (!batchNo) return;
        deps.onStep?.('formed');
        log.info({ batchNo, api: provider.api }, 'payout_batch_formed');
        await queues.submit(batchNo);
      }
    },

    async submit(batchNo: string): Promise<void> {
      const batch = await store.batch(batchNo);
      if (batch.state !== 'formed') return;
      const answer = await provider.submit(batchNo, batch.pending, batch.params!);
      deps.onStep?.('called');
      if (!answer.ok) {
        if (answer.error.retriable)
          throw new PipelineError(`wechat_${answer.code}`, `${batchNo}: ${answer.code} ${answer.message}`, {
            retriable: true,
          });
        if (!answer.error.final) return attention(batchNo, 'formed', answer);
        await record(
          batchNo,
          batch.pending.map((i) => ({ requestNo: i.requestNo, outcome: 'failed', reason: answer.code })),
        );
        return move(batchNo, 'formed', 'finished', { detail: `${answer.code}: ${answer.message}` });
      }
      await move(batchNo, 'formed', 'submitted', { providerBatchId: answer.providerBatchId });
      const flight = inFlight(batchNo, batch.items);
      flight.seen(answer.results);
      await care.follow(batchNo, batch, await record(batchNo, answer.results), flight.seen);
      await settle(batchNo, 'submitted', await flight.pending());
    },

    /**
     * Queries a submitted batch; `recheck` also asks again about transfers already succeeded (a callback
     * said so). For the per-transfer products, `recheck` and `only` name the transfers to query (the
     * rest are not due). A batch still formed was never sent: a query would find nothing and prove
     * nothing, so its submit is queued instead (a callback or a sweep may come before the submit job runs).
     */
    async poll(batchNo: string, recheck: string[] = [], only?: string[]): Promise<void> {
      const batch = await store.batch(batchNo);
      if (batch.state === 'formed') {
        log.info({ batchNo }, 'payout_poll_of_unsent_batch');
        return queues.submit(batchNo);
      }
      if (batch.state === undefined || (batch.state !== 'submitted' && recheck.length === 0)) return;
      const named = perTransfer && (recheck.length > 0 || only) ? new Set([...recheck, ...(only ?? [])]) : undefined;
      const items = batch.items.filter(
        (i) =>
          (i.state === 'batched' || (i.state === 'succeeded' && recheck.includes(i.requestNo))) &&
          (!named || named.has(i.requestNo)),
      );
      const flight = inFlight(batchNo, batch.items);
      if (items.length === 0) return settle(batchNo, batch.state, await flight.pending());
      const answer = await provider.query(batchNo, items, batch.params!);
      if (!answer.ok)
        return answer.error.retriable
          ? settle(batchNo, batch.state, await flight.pending())
          : attention(batchNo, batch.state, answer);
      flight.seen(answer.results);
      await care.follow(batchNo, batch, await record(batchNo, answer.results), flight.seen);
      await settle(batchNo, batch.state, await flight.pending(), answer.providerBatchId);
    },

    /** Cancels a transfer bill its user has not confirmed (an operator's command); see bill-lifecycle.ts. */
    cancel: care.cancel,

    /**
     * Queries what is due (v3 batches whole, other products per transfer, after re-checking the risk
     * of persons whose bills wait for them), resubmits formed batches whose job was lost, hands off
     * outcomes a crash dropped.
     */
    async sweep(): Promise<void> {
      for (const b of await store.openBatches({ formedMs: config.sweepIdleMs, submittedMs: config.pollMs })) {
        // One job per batch and idle period: a sweep that runs again before the query does adds nothing.
        await (b.state === 'formed'
          ? queues.submit(b.batchNo)
          : queues.poll(b.batchNo, { id: `poll-${b.batchNo}-${b.touchedMs}` }));
      }
      if (perTransfer) await care.due(config.pollMs);
      await queues.outcomes(await store.unappliedOutcomes(1_000));
    },
  };
}
export type PayoutFlow = ReturnType<typeof createPayoutFlow>;
