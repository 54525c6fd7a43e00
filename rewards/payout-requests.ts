// Payout requests (pure): a request reserves the amount at once with a hold (user_available ->
// user_held), so money asked for can never be spent twice; the payouts service then pays it and
// settles (held -> payout_clearing) or releases (held -> available) it.
import { nameUuid } from '../common/name-uuid.js';
import { fen, type Fen } from '../common/money.js';
import { accountKey, balanceOf, idempotencyKey, type Account, type AccountRef, type Transfer } from './ledger.js';

export type PayoutSource = 'threshold' | 'withdrawal';

/** `person` is the person key, `<app_id>:<user_id>` (common/person.ts). */
export interface PayoutRequest {
  payoutId: string;
  person: string;
  amountFen: Fen;
  currency: string;
  source: PayoutSource;
  idempotencyKey: string;
}

/** A person's account of `type`; the owner is the person key. */
export const userAccount = (
  type: 'user_available' | 'user_held' | 'payout_clearing',
  person: string,
  currency: string,
): AccountRef => ({ type, owner: person, currency });

/** A request whose id follows from its idempotency key, so a repeated trigger or request names the same payout. */
export function payoutRequest(
  person: string,
  amountFen: Fen,
  currency: string,
  source: PayoutSource,
  requestKey: string,
): PayoutRequest {
  const key = idempotencyKey(source, person, requestKey);
  return { payoutId: nameUuid(`payout/v1/${key}`), person, amountFen, currency, source, idempotencyKey: key };
}

export type PayoutPhase = 'hold' | 'settle' | 'release' | 'reverse';
const phaseLegs: Record<
  PayoutPhase,
  ['user_available' | 'user_held' | 'payout_clearing', 'user_available' | 'user_held' | 'payout_clearing']
> = {
  hold: ['user_available', 'user_held'],
  settle: ['user_held', 'payout_clearing'],
  release: ['user_held', 'user_available'],
  // The provider failed a payout after paying it: the money comes back to the user.
  reverse: ['payout_clearing', 'user_available'],
};

/** The ledger transfer of one phase of a payout; its key is the payout id and the phase. */
export function payoutTransfer(
  p: Pick<PayoutRequest, 'payoutId' | 'person' | 'amountFen' | 'currency'>,
  phase: PayoutPhase,
): Transfer {
  const [from, to] = phaseLegs[phase];
  return {
    key: `payout:${p.payoutId}:${phase}`,
    kind: phase === 'reverse' ? 'reversal' : phase,
    reference: p.payoutId,
    postings: [
      { account: userAccount(from, p.person, p.currency), side: 'debit', amount: p.amountFen },
      { account: userAccount(to, p.person, p.currency), side: 'credit', amount: p.amountFen },
    ],
  };
}

/**
 * The threshold trigger: a linked person whose available balance reached `thresholdFen` and who has
 * no payout in flight (nothing held) gets a payout of the whole available balance. The request key is
 * the person's total ever held, which only a new hold changes: triggering twice names one payout.
 */
export function thresholdRequests(
  persons: Iterable<string>,
  state: { accounts: Map<string, Account>; linked: Set<string>; thresholdFen: Fen; currency: string },
): PayoutRequest[] {
  const requests: PayoutRequest[] = [];
  for (const person of new Set(persons)) {
    if (!state.linked.has(person)) continue;
    const available = state.accounts.get(accountKey(userAccount('user_available', person, state.currency)));
    const held = state.accounts.get(accountKey(userAccount('user_held', person, state.currency)));
    if (!available || !held || balanceOf(held) !== 0n || balanceOf(available) < state.thresholdFen) continue;
    requests.push(
      payoutRequest(person, fen(balanceOf(available)), state.currency, 'threshold', held.credits.toString()),
    );
  }
  return requests;
}
