// The ledger's core, pure (ledger-pg.ts does the I/O). Modelled on TigerBeetle's create_transfers:
// a batch of transfers is checked in order against a snapshot of the accounts it touches, and each
// transfer gets a result value; one refused transfer never fails the others.
import { hash as cryptoHash } from 'node:crypto';
import type { Fen } from '../common/money.js';

/** Each account type's normal side and whether it may go below zero (as in the account_types table). */
export const accountTypes = {
  advertiser_funding: { normal: 'debit', noOverdraft: false },
  campaign_budget: { normal: 'credit', noOverdraft: true },
  user_available: { normal: 'credit', noOverdraft: true },
  user_held: { normal: 'credit', noOverdraft: true },
  payout_clearing: { normal: 'credit', noOverdraft: true },
  platform_revenue: { normal: 'credit', noOverdraft: false },
  refund_clearing: { normal: 'credit', noOverdraft: true },
} as const;
export type AccountType = keyof typeof accountTypes;

export interface AccountRef {
  type: AccountType;
  owner: string;
  currency: string;
}
export interface Account extends AccountRef {
  id: string;
  debits: bigint;
  credits: bigint;
}

export const accountKey = (a: AccountRef): string => `${a.type}/${a.currency}/${a.owner}`;

export function balanceOf(a: Pick<Account, 'type' | 'debits' | 'credits'>): bigint {
  return accountTypes[a.type].normal === 'credit' ? a.credits - a.debits : a.debits - a.credits;
}

export type Kind =
  | 'fund'
  | 'earning'
  | 'hold'
  | 'settle'
  | 'release'
  | 'reversal'
  | 'correction'
  | 'refund_hold'
  | 'refund_settle'
  | 'refund_release';
/** `reference` names what the posting is about when its transfer covers several things (an earning of a batch). */
export interface Posting {
  account: AccountRef;
  side: 'debit' | 'credit';
  amount: Fen;
  reference?: string;
}
/** `key` is the client-chosen idempotency key; `reference` names what it is about (payout, funding). */
export interface Transfer {
  key: string;
  kind: Kind;
  reference: string;
  postings: Posting[];
}

export { idempotencyKey } from '../common/idempotency-key.js';

/** The form such keys had before (`part:part:part`, ambiguous when a part holds ':'), to find what was stored under it. */
export const legacyKey = (...parts: string[]): string => parts.join(':');

export type TransferResult =
  | { status: 'created' }
  | { status: 'exists' }
  | { status: 'exists_with_different_content' }
  | { status: 'exceeds_balance'; account: AccountRef }
  | { status: 'invalid'; reason: string };

const hashes = new WeakMap<Transfer, Buffer>(); // planned, then written: hashed once

/** What identifies a transfer's content, so a retry can be told from a conflicting reuse of its key. */
export function contentHash(t: Transfer): Buffer {
  let hash = hashes.get(t);
  if (!hash) {
    // A reference is added only where there is one, so the hashes of transfers without stay as they were.
    const postings = t.postings.map(
      (p) => `${accountKey(p.account)} ${p.side} ${p.amount}${p.reference === undefined ? '' : ` ${p.reference}`}`,
    );
    hash = cryptoHash('sha256', JSON.stringify([t.kind, t.reference, postings]), 'buffer');
    hashes.set(t, hash);
  }
  return hash;
}

function invalidReason(t: Transfer): string | undefined {
  if (t.key.length === 0 || t.key.length > 200) return 'key must be 1..200 characters';
  if (t.postings.length < 2) return 'a transfer needs at least two postings';
  const net = new Map<string, bigint>();
  for (const p of t.postings) {
    if (p.amount <= 0n) return 'posting amounts must be positive';
    net.set(p.account.currency, (net.get(p.account.currency) ?? 0n) + (p.side === 'debit' ? p.amount : -p.amount));
  }
  if ([...net.values()].some((v) => v !== 0n)) return 'debits must equal credits in each currency';
  return undefined;
}

export interface Existing {
  hash: Buffer;
  reference?: string;
}

/** Whether a posting can lower a balance that may not go below zero. */
const canOverdraw = (p: Posting) =>
  accountTypes[p.account.type].noOverdraft && p.side !== accountTypes[p.account.type].normal;

/**
 * Checks `transfers` in order. `accounts` holds a locked snapshot of every account a transfer could
 * overdraw (keyed by accountKey); accounts that are only ever added to (a user's available balance
 * credited by an earning) need not be in it. A created transfer is applied to the snapshot in place
 * and added to `existing`, so later transfers of the batch see it. Returns one result per transfer.
 */
export function planTransfers(
  transfers: Transfer[],
  state: { accounts: Map<string, Account>; existing: Map<string, Existing> },
): TransferResult[] {
  return transfers.map((t): TransferResult => {
    const previous = state.existing.get(t.key);
    if (previous)
      return previous.hash.equals(contentHash(t)) ? { status: 'exists' } : { status: 'exists_with_different_content' };
    const reason = invalidReason(t);
    if (reason) return { status: 'invalid', reason };
    const after = new Map<string, Account>();
    for (const p of t.postings) {
      const key = accountKey(p.account);
      const locked = after.get(key) ?? state.accounts.get(key);
      if (!locked) {
        if (canOverdraw(p)) return { status: 'invalid', reason: `${key} could be overdrawn but was not locked` };
        continue;
      }
      const a = { ...locked };
      if (p.side === 'debit') a.debits += p.amount;
      else a.credits += p.amount;
      after.set(key, a);
    }
    for (const a of after.values()) {
      if (accountTypes[a.type].noOverdraft && balanceOf(a) < 0n) return { status: 'exceeds_balance', account: a };
    }
    for (const [key, a] of after) state.accounts.set(key, a);
    state.existing.set(t.key, {
      get hash() {
        return contentHash(t);
      },
    }); // hashed only if asked: rarely
    return { status: 'created' };
  });
}

/** What `transfers` add to each account's debits and credits, by accountKey. */
export function balanceChanges(
  transfers: Transfer[],
): Map<string, { account: AccountRef; debits: bigint; credits: bigint }> {
  const changes = new Map<string, { account: AccountRef; debits: bigint; credits: bigint }>();
  for (const t of transfers) {
    for (const p of t.postings) {
      const key = accountKey(p.account);
      const c = changes.get(key) ?? { account: p.account, debits: 0n, credits: 0n };
      if (p.side === 'debit') c.debits += p.amount;
      else c.credits += p.amount;
      changes.set(key, c);
    }
  }
  return changes;
}

/** The distinct accounts `transfers` touch. */
export function accountsOf(transfers: Transfer[]): AccountRef[] {
  const refs = new Map<string, AccountRef>();
  for (const t of transfers) for (const p of t.postings) refs.set(accountKey(p.account), p.account);
  return [...refs.values()];
}
