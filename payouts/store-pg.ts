// The payouts service's Postgres: taking requests up, forming batches (risk checks included), and
// recording what the provider said, each one statement (sql/). Request numbers are in Postgres
// before any call that carries them.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { parsePerson } from '../common/person.js';
import type { SecretBox } from '../common/secretbox.js';
import { loadSql } from '../common/sql.js';
import type { Api, Item, ItemResult } from './providers.js';
import { reviewReason, type RiskConfig, type RiskReason } from './risk.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'accept-request', 'queued-transfers', 'form-batch', 'batch-items', 'record-results', 'move-batch', 'unapplied-outcomes', 'open-batches', 'payout-view', 'review-decision', 'batch-of',
] as const);

export type Outcome = 'settle' | 'release' | 'reverse';
/** A batch's states (payout_batches.state): formed (numbers committed, never sent), submitted, finished, attention. */
export type BatchState = 'formed' | 'submitted' | 'finished' | 'attention';
export const outcomeOf = { succeeded: 'settle', failed: 'release', reversed: 'reverse' } as const satisfies Record<string, Outcome>;

interface Queued { payout_id: string; request_no: string; user_id: string; amount_fen: string; created_at: Date; linked_at: Date; day_count: string; day_fen: string; hour_count: string }

/** A batch number: B + time + randomness, 32 alphanumerics at most, as WeChat requires. */
export const newBatchNo = (nowMs: number) => `B${nowMs.toString(36).toUpperCase()}${randomBytes(10).toString('hex').toUpperCase()}`;

export function createPayoutsStore(config: { api: Api; maxBatch: number; maxAgeMs: number; risk: RiskConfig }, deps: { pool: pg.Pool; box: SecretBox; fraudReasons(userIds: string[]): Promise<Map<string, string[]>>; now(): number }) {
  return {
    /** Takes a payout request up (once): its transfer row, queued for batching. */
    accept: async (payoutId: string) => void await deps.pool.query(sql['accept-request'], [payoutId, 1]),

    /** Takes up every request still waiting, in bulk (faster than one job each when many arrive at once). */
    acceptAll: async (limit: number) => void await deps.pool.query(sql['accept-request'], [null, limit]),

    /**
     * Forms one batch when enough transfers are queued or the oldest has waited long enough; runs the
     * risk checks on each transfer first and holds the risky ones for review. Returns the batch
     * number, or undefined when there is nothing to send yet.
     */
    async formBatch(): Promise<{ batchNo?: string; held: number }> {
      const client = await deps.pool.connect();
      try {
        await client.query('begin');
        const { rows } = await client.query<Queued>(sql['queued-transfers'], [config.maxBatch]);
        const nowMs = deps.now();
        if (rows.length === 0 || (rows.length < config.maxBatch && nowMs - rows[0]!.created_at.getTime() < config.maxAgeMs)) {
          await client.query('rollback');
          return { held: 0 };
        }
        const fraud = await deps.fraudReasons([...new Set(rows.map((r) => r.user_id))]);
        const send: string[] = [];
        const held: [string, RiskReason][] = [];
        const seen = new Map<string, { count: number; fen: number }>();
        for (const r of rows) {
          const earlier = seen.get(r.user_id) ?? { count: 0, fen: 0 };
          const amountFen = Number(r.amount_fen);
          const reason = reviewReason(config.risk, {
            amountFen, linkedAtMs: r.linked_at.getTime(), fraudReasons: fraud.get(r.user_id) ?? [],
            dayCount: Number(r.day_count) + earlier.count, dayFen: Number(r.day_fen) + earlier.fen, hourCount: Number(r.hour_count) + earlier.count,
          }, nowMs);
          if (reason) held.push([r.request_no, reason]);
          else {
            send.push(r.request_no);
            seen.set(r.user_id, { count: earlier.count + 1, fen: earlier.fen + amountFen });
          }
        }
        const batchNo = send.length > 0 ? newBatchNo(nowMs) : undefined;
        await client.query(sql['form-batch'], [batchNo ?? '', config.api, send, held.map((h) => h[0]), held.map((h) => h[1])]);
        await client.query('commit');
        return { batchNo, held: held.length };
      } catch (err) {
        await client.query('rollback').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },

    /** A batch's items (openids unsealed), in the order they are always sent, and the pending ones. */
    async batch(batchNo: string) {
      const { rows } = await deps.pool.query<{ batch_state: BatchState; request_no: string; amount_fen: string; openid_enc: Buffer; state: string }>(sql['batch-items'], [batchNo]);
      const items = rows.map((r): Item & { state: string } => ({ requestNo: r.request_no, amountFen: Number(r.amount_fen), openid: deps.box.open(r.openid_enc), state: r.state }));
      return { state: rows[0]?.batch_state, items, pending: items.filter((i) => i.state === 'batched') };
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
