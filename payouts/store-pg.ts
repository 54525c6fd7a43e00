// The payouts service's Postgres: taking requests up, forming batches (risk checks included), and
// recording what the provider said, each one statement (sql/). Request numbers are in Postgres
// before any call that carries them.
import type pg from 'pg';
import { parsePerson } from '../common/person.js';
import type { SecretBox } from '../common/secretbox.js';
import { loadSql } from '../common/sql.js';
import type { Api, BatchParams, Item, ItemResult } from './providers/provider.js';
import { createBatchFormer } from './form-pg.js';
import type { RiskConfig } from './risk.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'accept-request', 'batch-items', 'record-results', 'move-batch', 'unapplied-outcomes', 'open-batches', 'payout-view', 'review-decision', 'batch-of',
] as const);

export type Outcome = 'settle' | 'release' | 'reverse';
/** A batch's states (payout_batches.state): formed (numbers committed, never sent), submitted, finished, attention. */
export type BatchState = 'formed' | 'submitted' | 'finished' | 'attention';
export const outcomeOf = { succeeded: 'settle', failed: 'release', reversed: 'reverse' } as const satisfies Record<string, Outcome>;

export function createPayoutsStore(config: { api: Api; maxBatch: number; maxAgeMs: number; risk: RiskConfig; params: BatchParams }, deps: { pool: pg.Pool; box: SecretBox; fraudReasons(userIds: string[]): Promise<Map<string, string[]>>; now(): number }) {
  return {
    ...createBatchFormer(config, deps),

    /** Takes a payout request up (once): its transfer row, queued for batching. */
    accept: async (payoutId: string) => void await deps.pool.query(sql['accept-request'], [payoutId, 1]),

    /** Takes up every request still waiting, in bulk (faster than one job each when many arrive at once). */
    acceptAll: async (limit: number) => void await deps.pool.query(sql['accept-request'], [null, limit]),

    /** A batch's items (openids unsealed), in the order they are always sent, and the pending ones. */
    async batch(batchNo: string) {
      const { rows } = await deps.pool.query<{ batch_state: BatchState; params: BatchParams; request_no: string; amount_fen: string; openid_enc: Buffer; state: string }>(sql['batch-items'], [batchNo]);
      const items = rows.map((r): Item & { state: string } => ({ requestNo: r.request_no, amountFen: Number(r.amount_fen), openid: deps.box.open(r.openid_enc), state: r.state }));
      return { state: rows[0]?.batch_state, params: rows[0]?.params, items, pending: items.filter((i) => i.state === 'batched') };
    },

    /** Records results; returns the payouts whose outcome the ledger must now apply. */
    async record(batchNo: string, results: ItemResult[]): Promise<{ payoutId: string; outcome: Outcome }[]> {
      const col = (f: (r: ItemResult) => string | undefined) => results.map((r) => f(r) ?? '');
      const { rows } = await deps.pool.query<{ payout_id: string; state: keyof typeof outcomeOf }>(sql['record-results'], [
        batchNo, col((r) => r.requestNo), col((r) => r.outcome), col((r) => r.reason), col((r) => r.providerId), col((r) => r.packageInfo),
      ]);
      return rows.map((r) => ({ payoutId: r.payout_id, outcome: outcomeOf[r.state] }));
    },

    /** Moves a batch from state `from` to `to`; false (nothing changed) when it is not in `from`. */
    moveBatch: async (batchNo: string, from: BatchState, to: BatchState, opts: { detail?: string; providerBatchId?: string } = {}): Promise<boolean> =>
      ((await deps.pool.query(sql['move-batch'], [batchNo, from, to, opts.providerBatchId ?? null, opts.detail ?? ''])).rowCount ?? 0) > 0,

    async unappliedOutcomes(limit: number): Promise<{ payoutId: string; outcome: Outcome }[]> {
      const { rows } = await deps.pool.query<{ payout_id: string; state: keyof typeof outcomeOf; payout_state: string }>(sql['unapplied-outcomes'], [limit]);
      return rows.flatMap((r) => [
        ...(r.state === 'reversed' && r.payout_state !== 'paid' ? [{ payoutId: r.payout_id, outcome: 'settle' as const }] : []),
        { payoutId: r.payout_id, outcome: outcomeOf[r.state] },
      ]);
    },

    async openBatches(idle: { formedMs: number; submittedMs: number }): Promise<{ batchNo: string; state: 'formed' | 'submitted'; touchedMs: string }[]> {
      const { rows } = await deps.pool.query<{ batch_no: string; state: 'formed' | 'submitted'; touched_ms: string }>(sql['open-batches'], [idle.formedMs, idle.submittedMs]);
      return rows.map((r) => ({ batchNo: r.batch_no, state: r.state, touchedMs: r.touched_ms }));
    },

    async batchOf(requestNo: string): Promise<string | undefined> {
      return (await deps.pool.query<{ batch_no: string }>(sql['batch-of'], [requestNo])).rows[0]?.batch_no;
    },

    /** Payout `payoutId` as the API shows it (`body`: its app and user apart), and its person key, whose token may read it. */
    async view(payoutId: string): Promise<{ person: string; body: Record<string, unknown> } | undefined> {
      const { rows } = await deps.pool.query<Record<string, unknown> & { amount_fen: string; user_id: string }>(sql['payout-view'], [payoutId]);
      const row = rows[0];
      if (!row) return undefined;
      const { user_id: person, ...rest } = row;
      const { appId = null, userId = person } = parsePerson(person) ?? {};
      return { person, body: { ...rest, app_id: appId, user_id: userId, amount_fen: Number(row.amount_fen) } };
    },

    /** An operator's decision on a payout held for review: the transfer's new state, or undefined when it was not in review. */
    async review(payoutId: string, decision: 'approve' | 'reject'): Promise<'queued' | 'failed' | undefined> {
      const { rows } = await deps.pool.query<{ state: 'queued' | 'failed' }>(sql['review-decision'], [payoutId, decision]);
      return rows[0]?.state;
    },
  };
}
export type PayoutsStore = ReturnType<typeof createPayoutsStore>;
