// Payout requests in Postgres: a withdrawal (the API's, with its Idempotency-Key) and the outcomes
// the payouts service reports (settle, release, reverse), each one unit of work with its ledger
// transfers, so a payout's state and its money never disagree.
import type pg from 'pg';
import { PipelineError } from '../common/errors.js';
import { personKey, type Person } from '../common/person.js';
import { loadSql } from '../common/sql.js';
import { fen, type Fen } from '../common/money.js';
import { accountKey, accountsOf, balanceOf, idempotencyKey, legacyKey, type Transfer } from './ledger.js';
import type { PgLedger } from './ledger-pg.js';
import { insertPayouts } from './earnings-pg.js';
import { payoutRequest, payoutTransfer, userAccount, type PayoutPhase, type PayoutRequest } from './payout-requests.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'find-payout',
  'find-payouts',
  'set-payout-states',
  'requested-payouts',
  'linked-users',
] as const);

interface PayoutRow {
  payout_id: string;
  user_id: string;
  amount_fen: string;
  currency: string;
  source: PayoutRequest['source'];
  idempotency_key: string;
  state: string;
}
const toRequest = (r: PayoutRow): PayoutRequest & { state: string } => ({
  payoutId: r.payout_id,
  person: r.user_id,
  amountFen: fen(r.amount_fen),
  currency: r.currency,
  source: r.source,
  idempotencyKey: r.idempotency_key,
  state: r.state,
});

/** The person's payout request stored under the first of `keys` found (the current form first). */
async function findPayout(db: pg.ClientBase, person: string, keys: string[]) {
  const { rows } = await db.query<PayoutRow>(sql['find-payout'], [person, keys]);
  return rows[0] && toRequest(rows[0]);
}

/**
 * The keys a withdrawal may have been stored under: the current one (of the person), and those of
 * before persons (of the bare user id, which migration 0009 gave this person's payouts) and before
 * JSON-array keys (`withdrawal:<user>:<key>`). find-payout.sql also requires the payout's person.
 */
const withdrawalKeys = (person: Person, current: string, requestKey: string) => [
  current,
  idempotencyKey('withdrawal', person.userId, requestKey),
  legacyKey('withdrawal', person.userId, requestKey),
];

type Outcome = Exclude<PayoutPhase, 'hold'>;
export type FinishResult = 'created' | 'exists' | 'already_finished' | 'not_yet' | 'not_found';
const phaseState: Record<Outcome, string> = { settle: 'paid', release: 'released', reverse: 'reversed' };

export type WithdrawalResult =
  | { status: 'created' | 'exists'; payout: PayoutRequest }
  | { status: 'idempotency_key_reused' | 'insufficient_funds' | 'wechat_not_linked' | 'payout_in_flight' };

export function createPayoutsStore(config: { currency: string }, deps: { ledger: PgLedger; pool: pg.Pool }) {
  const store = {
    /**
     * Reserves `amountFen` of the person's available balance for a payout; repeating a request returns
     * the original. Refused while another payout is in flight (money held: requested … awaiting_name),
     * as the threshold is, so a person never has two at once.
     */
    requestWithdrawal: (person: Person, amountFen: Fen, requestKey: string) =>
      deps.ledger.unitOfWork(async (tx): Promise<WithdrawalResult> => {
        const key = personKey(person);
        const request = payoutRequest(key, amountFen, config.currency, 'withdrawal', requestKey);
        const accounts = await tx.lock([
          userAccount('user_available', key, config.currency),
          userAccount('user_held', key, config.currency),
        ]);
        const previous = await findPayout(tx.db, key, withdrawalKeys(person, request.idempotencyKey, requestKey));
        if (previous)
          return previous.amountFen === amountFen
            ? { status: 'exists', payout: previous }
            : { status: 'idempotency_key_reused' };
        if ((await tx.db.query(sql['linked-users'], [[key]])).rowCount === 0) return { status: 'wechat_not_linked' };
        const held = accounts.get(accountKey(userAccount('user_held', key, config.currency)));
        if (held && balanceOf(held) !== 0n) return { status: 'payout_in_flight' };
        const { results } = await tx.post([payoutTransfer(request, 'hold')], accounts);
        if (results[0]!.status === 'exceeds_balance') return { status: 'insufficient_funds' };
        await insertPayouts(tx.db, [request]);
        return { status: 'created', payout: request };
      }),

    /**
     * Applies what the provider said about payouts, in one unit of work (1,000 settles cost one
     * transaction, not 1,000), each at most once: settle (paid: held -> payout_clearing), release
     * (failed: held -> available), or reverse (failed after it was paid: payout_clearing ->
     * available). A repeat is 'exists'; settle and release exclude each other; a reversal waits for
     * its settle ('not_yet'), which may come earlier in the same list.
     */
    finishMany: (items: { payoutId: string; phase: Outcome }[], detail: Record<string, unknown> = {}) =>
      deps.ledger.unitOfWork(async (tx): Promise<FinishResult[]> => {
        const { rows } = await tx.db.query<PayoutRow>(sql['find-payouts'], [
          [...new Set(items.map((i) => i.payoutId))],
        ]);
        const payouts = new Map(rows.map((r) => [r.payout_id, toRequest(r)]));
        const accounts = await tx.lock(
          accountsOf(
            items.flatMap((i) => {
              const payout = payouts.get(i.payoutId);
              return payout ? [payoutTransfer(payout, i.phase)] : [];
            }),
          ),
        );
        const done = new Set(
          (
            await tx.existing(
              [...payouts.values()].flatMap((p) => [payoutTransfer(p, 'settle').key, payoutTransfer(p, 'release').key]),
            )
          ).keys(),
        );
        const results: FinishResult[] = [];
        const posts: { index: number; transfer: Transfer; state: string }[] = [];
        for (const { payoutId, phase } of items) {
          const payout = payouts.get(payoutId);
          if (!payout) {
            results.push('not_found');
            continue;
          }
          const [settle, release] = [payoutTransfer(payout, 'settle').key, payoutTransfer(payout, 'release').key];
          const blocked =
            phase === 'reverse'
              ? done.has(release)
                ? 'already_finished'
                : done.has(settle)
                  ? undefined
                  : 'not_yet'
              : done.has(phase === 'settle' ? release : settle)
                ? 'already_finished'
                : undefined;
          if (blocked) {
            results.push(blocked);
            continue;
          }
          const transfer = payoutTransfer(payout, phase);
          done.add(transfer.key);
          posts.push({ index: results.length, transfer, state: phaseState[phase] });
          results.push('created');
        }
        const { results: posted } = await tx.post(
          posts.map((p) => p.transfer),
          accounts,
        );
        const created: typeof posts = [];
        posted.forEach((r, i) => {
          if (r.status !== 'created' && r.status !== 'exists')
            throw new Error(`payout ${posts[i]!.transfer.reference} ${posts[i]!.transfer.kind}: ${r.status}`);
          results[posts[i]!.index] = r.status;
          if (r.status === 'created') created.push(posts[i]!);
        });
        // States move forward only (sql/set-payout-states.sql): paid or released first, then reversed,
        // so a settle and its reversal in one list both apply. The ledger allowed each of these moves,
        // so a payout found in another state is a conflict: refused, and the unit of work rolls back.
        for (const states of [['paid', 'released'], ['reversed']]) {
          const pass = [
            ...new Map(created.filter((c) => states.includes(c.state)).map((c) => [c.transfer.reference, c])).values(),
          ];
          if (pass.length === 0) continue;
          const moved = await tx.db.query(sql['set-payout-states'], [
            pass.map((c) => c.transfer.reference),
            pass.map((c) => c.state),
            JSON.stringify(detail),
          ]);
          if (moved.rowCount !== pass.length)
            throw new PipelineError(
              'payout_state_conflict',
              `moved ${moved.rowCount ?? 0} of ${pass.length} payouts to ${pass.map((c) => `${c.transfer.reference}=${c.state}`).join(',')}: another state was found`,
              { retriable: false },
            );
        }
        return results;
      }),

    /** Requests the payouts service has not taken up yet, oldest first. */
    async requested(limit: number): Promise<string[]> {
      return (await deps.pool.query<{ payout_id: string }>(sql['requested-payouts'], [limit])).rows.map(
        (r) => r.payout_id,
      );
    },

    /** One payout's outcome (see finishMany). */
    finish: async (payoutId: string, phase: Outcome, detail: Record<string, unknown> = {}): Promise<FinishResult> =>
      (await store.finishMany([{ payoutId, phase }], detail))[0]!,
  };
  return store;
}
export type PayoutsStore = ReturnType<typeof createPayoutsStore>;
