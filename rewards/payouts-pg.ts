// Payout requests in Postgres: a withdrawal (the API's, with its Idempotency-Key) and the outcome of
// a payout (settle or release, posted by whoever learns it), each one unit of work with its ledger
// transfer, so a payout's state and its money never disagree.
import type pg from 'pg';
import { loadSql } from '../common/sql.js';
import { fen, type Fen } from './ledger.js';
import type { PgLedger } from './ledger-pg.js';
import { insertPayouts } from './earnings-pg.js';
import { payoutRequest, payoutTransfer, userAccount, type PayoutPhase, type PayoutRequest } from './payout-requests.js';

const sql = loadSql(new URL('./sql/', import.meta.url), ['find-payout', 'set-payout-state', 'requested-payouts', 'linked-users'] as const);

interface PayoutRow { payout_id: string; user_id: string; amount_fen: string; currency: string; source: PayoutRequest['source']; idempotency_key: string; state: string }
const toRequest = (r: PayoutRow): PayoutRequest & { state: string } => ({
  payoutId: r.payout_id, userId: r.user_id, amountFen: fen(r.amount_fen), currency: r.currency, source: r.source, idempotencyKey: r.idempotency_key, state: r.state,
});

async function findPayout(db: pg.ClientBase, by: { key?: string; id?: string }) {
  const { rows } = await db.query<PayoutRow>(sql['find-payout'], [by.key ?? null, by.id ?? null]);
  return rows[0] && toRequest(rows[0]);
}

export type WithdrawalResult =
  | { status: 'created' | 'exists'; payout: PayoutRequest }
  | { status: 'idempotency_key_reused' | 'insufficient_funds' | 'wechat_not_linked' };

export function createPayoutsStore(config: { currency: string }, deps: { ledger: PgLedger; pool: pg.Pool }) {
  return {
    /** Reserves `amountFen` of the user's available balance for a payout; repeating a request returns the original. */
    requestWithdrawal: (userId: string, amountFen: Fen, requestKey: string) => deps.ledger.unitOfWork(async (tx): Promise<WithdrawalResult> => {
      const request = payoutRequest(userId, amountFen, config.currency, 'withdrawal', requestKey);
      const accounts = await tx.lock([userAccount('user_available', userId, config.currency), userAccount('user_held', userId, config.currency)]);
      const previous = await findPayout(tx.db, { key: request.idempotencyKey });
      if (previous) return previous.amountFen === amountFen ? { status: 'exists', payout: previous } : { status: 'idempotency_key_reused' };
      if ((await tx.db.query(sql['linked-users'], [[userId]])).rowCount === 0) return { status: 'wechat_not_linked' };
      const { results } = await tx.post([payoutTransfer(request, 'hold')], accounts);
      if (results[0]!.status === 'exceeds_balance') return { status: 'insufficient_funds' };
      await insertPayouts(tx.db, [request]);
      return { status: 'created', payout: request };
    }),

    /**
     * Applies what the provider said about a payout, once: settle (paid: held -> payout_clearing),
     * release (failed: held -> available), or reverse (failed after it was paid: payout_clearing ->
     * available). A repeat is a no-op ('exists'); settle and release exclude each other; a reversal
     * before its settle waits ('not_yet').
     */
    finish: (payoutId: string, phase: Exclude<PayoutPhase, 'hold'>, detail: Record<string, unknown> = {}) =>
      deps.ledger.unitOfWork(async (tx): Promise<'created' | 'exists' | 'already_finished' | 'not_yet' | 'not_found'> => {
        const payout = await findPayout(tx.db, { id: payoutId });
        if (!payout) return 'not_found';
        const [from, to] = { settle: ['user_held', 'payout_clearing'], release: ['user_held', 'user_available'], reverse: ['payout_clearing', 'user_available'] }[phase] as ['user_held' | 'payout_clearing', 'payout_clearing' | 'user_available'];
        const accounts = await tx.lock([userAccount(from, payout.userId, payout.currency), userAccount(to, payout.userId, payout.currency)]);
        const [settle, release] = [payoutTransfer(payout, 'settle').key, payoutTransfer(payout, 'release').key];
        const done = await tx.existing([settle, release]);
        if (phase === 'reverse' && !done.has(settle)) return done.has(release) ? 'already_finished' : 'not_yet';
        if (phase !== 'reverse' && done.has(phase === 'settle' ? release : settle)) return 'already_finished';
        const { results } = await tx.post([payoutTransfer(payout, phase)], accounts);
        const status = results[0]!.status;
        if (status !== 'created' && status !== 'exists') throw new Error(`payout ${payoutId} ${phase}: ${status}`);
        const state = { settle: 'paid', release: 'released', reverse: 'reversed' }[phase];
        if (status === 'created') await tx.db.query(sql['set-payout-state'], [payoutId, state, JSON.stringify(detail)]);
        return status;
      }),

    /** Requests the payouts service has not taken up yet, oldest first. */
    async requested(limit: number): Promise<string[]> {
      return (await deps.pool.query<{ payout_id: string }>(sql['requested-payouts'], [limit])).rows.map((r) => r.payout_id);
    },
  };
}
export type PayoutsStore = ReturnType<typeof createPayoutsStore>;
