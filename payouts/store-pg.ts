// The payouts service's Postgres: taking requests up, forming batches (risk checks included), and
// recording what the provider said, each one statement (sql/). Request numbers are in Postgres
// before any call that carries them.
import type pg from 'pg';
import { fen } from '../common/money.js';
import { parsePerson } from '../common/person.js';
import type { SecretBox } from '../common/secretbox.js';
import { loadSql } from '../common/sql.js';
import type { Api, BatchParams, Item, ItemResult } from './providers/provider.js';
import { createAuthorizationStore, type ConfirmMode } from './authorizations-pg.js';
import { createBatchFormer } from './form-pg.js';
import type { RiskConfig } from './risk.js';
import { numberConflictCodes } from './wechat/errors.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'accept-request',
  'batch-items',
  'record-results',
  'move-batch',
  'unapplied-outcomes',
  'open-batches',
  'payout-view',
  'review-decision',
  'batch-of',
  'due-bills',
  'cancel-request',
  'claimable',
  'batch-pending',
  'hold-transfers',
] as const);

export type Outcome = 'settle' | 'release' | 'reverse';
/** A batch's states (payout_batches.state): formed (numbers committed, never sent), submitted, finished, attention. */
export type BatchState = 'formed' | 'submitted' | 'finished' | 'attention';
export const outcomeOf = { succeeded: 'settle', failed: 'release', reversed: 'reverse' } as const satisfies Record<
  string,
  Outcome
>;
/** What a transfer bill needs after its results: a fresh package (a create sent again), or the cancel asked for. */
export interface BillNeed {
  requestNo: string;
  need: 'package' | 'cancel';
}
/**
 * When to query a transfer of the per-transfer products again (v3 batches are queried whole, by
 * batch): `waitPollMs` while a bill waits for its user, else `pollMs`; and when a package is stale.
 */
export interface PollConfig {
  pollMs: number;
  waitPollMs: number;
  packageMaxAgeMs: number;
}

/** What the person deciding on a transfer WeChat refused alone must know (its payout history says it). */
export const heldNote = (code: string) =>
  numberConflictCodes.has(code)
    ? 'the number may have been used with other parameters, and an earlier request may have paid: query WeChat for it before rejecting'
    : 'WeChat refused this transfer and created nothing: approve sends it again with the same number once the cause is fixed; reject releases the money';

export function createPayoutsStore(
  config: {
    api: Api;
    maxBatch: number;
    maxAgeMs: number;
    risk: RiskConfig;
    params: BatchParams;
    polls: PollConfig;
    confirmMode: ConfirmMode;
  },
  deps: {
    pool: pg.Pool;
    box: SecretBox;
    fraudReasons(userIds: string[]): Promise<Map<string, string[]>>;
    now(): number;
  },
) {
  /**
   * Records results; returns the payouts whose outcome the ledger must now apply, and what bills need
   * next. A transfer WeChat refused alone (`held`) goes to review (hold-transfers.sql).
   */
  async function recordResults(
    batchNo: string,
    all: ItemResult[],
  ): Promise<{ moved: { payoutId: string; outcome: Outcome }[]; needs: BillNeed[] }> {
    const held = all.filter((r) => r.outcome === 'held');
    const results = all.filter((r) => r.outcome !== 'held');
    if (held.length > 0) {
      await deps.pool.query(sql['hold-transfers'], [
        batchNo,
        held.map((r) => r.requestNo),
        held.map((r) => r.reason ?? ''),
        held.map((r) => r.message ?? ''),
        held.map((r) => heldNote(r.reason ?? '')),
      ]);
    }
    if (results.length === 0) return { moved: [], needs: [] };
    const col = (f: (r: ItemResult) => string | undefined) => results.map((r) => f(r) ?? '');
    const { polls } = config;
    const { rows } = await deps.pool.query<{
      payout_id: string;
      request_no: string;
      state: keyof typeof outcomeOf | 'batched';
      need: BillNeed['need'] | null;
    }>(sql['record-results'], [
      batchNo,
      col((r) => r.requestNo),
      col((r) => r.outcome),
      col((r) => r.reason),
      col((r) => r.providerId),
      col((r) => r.packageInfo),
      col((r) => r.providerState),
      config.api === 'v3_batch' ? null : polls.pollMs,
      polls.waitPollMs,
      polls.packageMaxAgeMs,
    ]);
    return {
      moved: rows.flatMap((r) =>
        r.state === 'batched' ? [] : [{ payoutId: r.payout_id, outcome: outcomeOf[r.state] }],
      ),
      needs: rows.flatMap((r) => (r.need ? [{ requestNo: r.request_no, need: r.need }] : [])),
    };
  }

  const authorizations = createAuthorizationStore({ mode: config.confirmMode, params: config.params }, deps);
  return {
    ...createBatchFormer(config, deps),
    /** PAYOUTS_BILL_CONFIRM_MODE=authorized: the persons' authorizations (authorizations-pg.ts). */
    authorizations,

    /** Takes a payout request up (once): its transfer row, queued for batching. */
    accept: async (payoutId: string) => void (await deps.pool.query(sql['accept-request'], [payoutId, 1])),

    /** Takes up every request still waiting, in bulk (faster than one job each when many arrive at once). */
    acceptAll: async (limit: number) => void (await deps.pool.query(sql['accept-request'], [null, limit])),

    /** A batch's items (openids unsealed), in the order they are always sent, and the pending ones. */
    async batch(batchNo: string) {
      // Transfer bills: how each is sent (with an authorization, or for the confirm page), fixed before its first send.
      const authorized = config.api === 'v3_bill' ? await authorizations.decide(batchNo) : undefined;
      const { rows } = await deps.pool.query<{
        batch_state: BatchState;
        params: BatchParams;
        request_no: string;
        amount_fen: string;
        openid_enc: Buffer;
        user_name_enc: Buffer | null;
        state: string;
      }>(sql['batch-items'], [batchNo]);
      const items = rows.map((r): Item & { state: string } => ({
        requestNo: r.request_no,
        amountFen: fen(r.amount_fen),
        openid: deps.box.open(r.openid_enc),
        state: r.state,
        ...(r.user_name_enc ? { userName: deps.box.open(r.user_name_enc) } : {}), // the real name snapshotted when formed (form-pg.ts)
        ...(authorized?.has(r.request_no) ? { authorizationId: authorized.get(r.request_no)! } : {}),
      }));
      return {
        state: rows[0]?.batch_state,
        params: rows[0]?.params,
        items,
        pending: items.filter((i) => i.state === 'batched'),
      };
    },

    recordResults,

    /** Records results; returns the payouts whose outcome the ledger must now apply. */
    async record(batchNo: string, results: ItemResult[]): Promise<{ payoutId: string; outcome: Outcome }[]> {
      return (await recordResults(batchNo, results)).moved;
    },

    /** How many of the batch's transfers are still in flight, now. */
    pendingIn: async (batchNo: string): Promise<number> =>
      (await deps.pool.query<{ n: number }>(sql['batch-pending'], [batchNo])).rows[0]!.n,

    /** Transfers of the per-transfer products whose next query is due (never recorded: their batch idle `idleMs`). */
    async dueTransfers(idleMs: number, limit: number) {
      const { rows } = await deps.pool.query<{
        batch_no: string;
        request_no: string;
        payout_id: string;
        user_id: string;
        provider_state: string | null;
        cancel_requested: boolean;
        due_ms: string;
      }>(sql['due-bills'], [idleMs, limit]);
      return rows.map((r) => ({
        batchNo: r.batch_no,
        requestNo: r.request_no,
        payoutId: r.payout_id,
        person: r.user_id,
        providerState: r.provider_state,
        cancelRequested: r.cancel_requested,
        dueMs: r.due_ms,
      }));
    },

    /** Asks for payout `payoutId`'s bill to be cancelled (`detail`: who asked, why); undefined when it is not in flight. */
    async requestCancel(
      payoutId: string,
      detail: Record<string, unknown>,
    ): Promise<{ batchNo: string; requestNo: string } | undefined> {
      const row = (
        await deps.pool.query<{ batch_no: string; request_no: string }>(sql['cancel-request'], [payoutId, detail])
      ).rows[0];
      return row && { batchNo: row.batch_no, requestNo: row.request_no };
    },

    /** The aggregator's fraud signals for persons, now (the risk re-check of bills waiting for their users). */
    fraudReasons: (persons: string[]) => deps.fraudReasons(persons),

    /**
     * Person `person`'s bills waiting for confirmation, openids unsealed; `packageInfo` null when
     * missing or stale. `formedAt`: when its batch was formed (the bill was created after).
     */
    async claimable(person: string) {
      const { rows } = await deps.pool.query<{
        payout_id: string;
        request_no: string;
        batch_no: string;
        amount_fen: string;
        openid_enc: Buffer;
        formed_at: Date;
        package_info: string | null;
      }>(sql.claimable, [person, config.polls.packageMaxAgeMs]);
      return rows.map((r) => ({
        payoutId: r.payout_id,
        requestNo: r.request_no,
        batchNo: r.batch_no,
        amountFen: fen(r.amount_fen),
        openid: deps.box.open(r.openid_enc),
        formedAt: r.formed_at,
        packageInfo: r.package_info,
      }));
    },

    /** Moves a batch from state `from` to `to`; false (nothing changed) when it is not in `from`. */
    moveBatch: async (
      batchNo: string,
      from: BatchState,
      to: BatchState,
      opts: { detail?: string; providerBatchId?: string } = {},
    ): Promise<boolean> =>
      ((await deps.pool.query(sql['move-batch'], [batchNo, from, to, opts.providerBatchId ?? null, opts.detail ?? '']))
        .rowCount ?? 0) > 0,

    async unappliedOutcomes(limit: number): Promise<{ payoutId: string; outcome: Outcome }[]> {
      const { rows } = await deps.pool.query<{
        payout_id: string;
        state: keyof typeof outcomeOf;
        payout_state: string;
      }>(sql['unapplied-outcomes'], [limit]);
      return rows.flatMap((r) => [
        ...(r.state === 'reversed' && r.payout_state !== 'paid'
          ? [{ payoutId: r.payout_id, outcome: 'settle' as const }]
          : []),
        { payoutId: r.payout_id, outcome: outcomeOf[r.state] },
      ]);
    },

    async openBatches(idle: {
      formedMs: number;
      submittedMs: number;
    }): Promise<{ batchNo: string; state: 'formed' | 'submitted'; touchedMs: string }[]> {
      const { rows } = await deps.pool.query<{ batch_no: string; state: 'formed' | 'submitted'; touched_ms: string }>(
        sql['open-batches'],
        [idle.formedMs, idle.submittedMs],
      );
      return rows.map((r) => ({ batchNo: r.batch_no, state: r.state, touchedMs: r.touched_ms }));
    },

    async batchOf(requestNo: string): Promise<string | undefined> {
      return (await deps.pool.query<{ batch_no: string }>(sql['batch-of'], [requestNo])).rows[0]?.batch_no;
    },

    /** Payout `payoutId` as the API shows it (`body`: its app and user apart), and its person key, whose token may read it. */
    async view(payoutId: string): Promise<{ person: string; body: Record<string, unknown> } | undefined> {
      const { rows } = await deps.pool.query<Record<string, unknown> & { amount_fen: string; user_id: string }>(
        sql['payout-view'],
        [payoutId],
      );
      const row = rows[0];
      if (!row) return undefined;
      const { user_id: person, ...rest } = row;
      const { appId = null, userId = person } = parsePerson(person) ?? {};
      return { person, body: { ...rest, app_id: appId, user_id: userId, amount_fen: Number(row.amount_fen) } };
    },

    /** An operator's decision on a payout held for review: the transfer's new state, or undefined when it was not in review. */
    async review(payoutId: string, decision: 'approve' | 'reject'): Promise<'queued' | 'failed' | undefined> {
      const { rows } = await deps.pool.query<{ state: 'queued' | 'failed' }>(sql['review-decision'], [
        payoutId,
        decision,
      ]);
      return rows[0]?.state;
    },
  };
}
export type PayoutsStore = ReturnType<typeof createPayoutsStore>;
