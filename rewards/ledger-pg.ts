// The ledger on Postgres. Work happens in a unit of work: one database transaction that locks the
// accounts it touches (in account_id order), checks transfers with the pure planTransfers and writes
// the created ones with a few set-based statements. Serialization failures, deadlocks and races on
// a new key are retried with backoff; the caller's function must therefore be safe to run again.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { PipelineError } from '../common/errors.js';
import { loadSql } from '../common/sql.js';
import {
  accountKey,
  accountsOf,
  balanceChanges,
  contentHash,
  planTransfers,
  type Account,
  type AccountRef,
  type Existing,
  type Transfer,
  type TransferResult,
} from './ledger.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'lock-accounts',
  'read-accounts',
  'create-accounts',
  'find-transactions',
  'update-balances',
  'insert-transactions',
] as const);

// 40001 serialization failure, 40P01 deadlock, 23505 a unique key another transaction took first.
const RETRIABLE = new Set(['40001', '40P01', '23505']);
const ATTEMPTS = 8;

interface AccountRow {
  account_id: string;
  type: Account['type'];
  currency: string;
  owner: string;
  debits: string;
  credits: string;
}
const toAccount = (r: AccountRow): Account => ({
  id: r.account_id,
  type: r.type,
  currency: r.currency,
  owner: r.owner,
  debits: BigInt(r.debits),
  credits: BigInt(r.credits),
});
const columns = (refs: AccountRef[]) => [
  refs.map((r) => r.type),
  refs.map((r) => r.currency),
  refs.map((r) => r.owner),
];

export type LedgerTx = ReturnType<typeof ledgerTx>;

function ledgerTx(db: pg.ClientBase) {
  return {
    db,
    /** Locks (opening where needed) the accounts named, and returns them keyed by accountKey. */
    lock: (refs: AccountRef[]) => accountsNamed(db, refs, 'lock-accounts'),

    /** The accounts named (opened where needed), not locked: see `write`'s `late`. */
    read: (refs: AccountRef[]) => accountsNamed(db, refs, 'read-accounts'),

    async existing(keys: string[]): Promise<Map<string, Existing>> {
      const { rows } = await db.query<{ idempotency_key: string; content_hash: Buffer; reference: string }>(
        sql['find-transactions'],
        [keys],
      );
      return new Map(rows.map((r) => [r.idempotency_key, { hash: r.content_hash, reference: r.reference }]));
    },

    /**
     * Writes created transfers: their balance changes, then the transactions with their postings;
     * key -> transaction id. The changes to the `late` accounts (read, not locked, when the transfers
     * were planned) are applied last, so their row locks are held only until the commit that
     * follows (`beforeLate` runs just before them, with the transaction ids); if a concurrent writer
     * has since taken what they needed, the account_not_overdrawn check fails the statement
     * (SQLSTATE 23514) and the caller plans again with them locked.
     */
    write: (
      created: Transfer[],
      late?: Map<string, Account>,
      beforeLate?: (ids: Map<string, string>) => Promise<void>,
    ) => write(db, created, late, beforeLate),

    /** Checks `transfers` against the locked accounts and writes the created ones. */
    async post(transfers: Transfer[], accounts: Map<string, Account>) {
      const results = planTransfers(transfers, {
        accounts,
        existing: await this.existing(transfers.map((t) => t.key)),
      });
      const ids = await write(
        db,
        transfers.filter((_, i) => results[i]!.status === 'created'),
      );
      return { results, ids };
    },
  };
}

async function accountsNamed(
  db: pg.ClientBase,
  named: AccountRef[],
  statement: 'lock-accounts' | 'read-accounts',
): Promise<Map<string, Account>> {
  const refs = [...new Map(named.map((r) => [accountKey(r), r])).values()];
  const accounts = new Map<string, Account>();
  const add = (rows: AccountRow[]) => rows.forEach((r) => accounts.set(accountKey(r), toAccount(r)));
  add((await db.query<AccountRow>(sql[statement], columns(refs))).rows);
  let missing = refs.filter((r) => !accounts.has(accountKey(r)));
  const zeros = missing.map(() => '0');
  if (missing.length > 0)
    add((await db.query<AccountRow>(sql['create-accounts'], [...columns(missing), zeros, zeros])).rows);
  missing = missing.filter((r) => !accounts.has(accountKey(r)));
  // Opened by a concurrent transaction since our first look.
  if (missing.length > 0) add((await db.query<AccountRow>(sql[statement], columns(missing))).rows);
  return accounts;
}

type Change = ReturnType<typeof balanceChanges> extends Map<string, infer C> ? C : never;
const changeColumns = (changes: Change[]) => [
  ...columns(changes.map((c) => c.account)),
  changes.map((c) => c.debits.toString()),
  changes.map((c) => c.credits.toString()),
];

async function write(
  db: pg.ClientBase,
  created: Transfer[],
  late = new Map<string, Account>(),
  beforeLate?: (ids: Map<string, string>) => Promise<void>,
): Promise<Map<string, string>> {
  const changes = [...balanceChanges(created)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const lastly = changes.filter(([k]) => late.has(k)).map(([, c]) => c);
  let pending = changes.filter(([k]) => !late.has(k)).map(([, c]) => c);
  const accountIds = new Map([...late].map(([k, a]) => [k, a.id]));
  // Update the accounts that exist, open the rest with their changes as opening balances, and
  // update those another transaction opened meanwhile.
  for (const statement of ['update-balances', 'create-accounts', 'update-balances'] as const) {
    if (pending.length === 0) break;
    const { rows } = await db.query<AccountRow>(sql[statement], changeColumns(pending));
    for (const r of rows) accountIds.set(accountKey(r), r.account_id);
    pending = pending.filter((c) => !accountIds.has(accountKey(c.account)));
  }
  if (pending.length > 0)
    throw new Error(`accounts neither updated nor opened: ${pending.map((c) => accountKey(c.account)).join(', ')}`);
  const postings = created.flatMap((t) => t.postings.map((p) => ({ key: t.key, p })));
  const { rows } =
    created.length === 0
      ? { rows: [] }
      : await db.query<{ transaction_id: string; idempotency_key: string }>(sql['insert-transactions'], [
          created.map((t) => t.key),
          created.map((t) => t.kind),
          created.map((t) => t.reference),
          created.map(contentHash),
          postings.map((x) => x.key),
          postings.map((x) => accountIds.get(accountKey(x.p.account))!),
          postings.map((x) => x.p.account.currency),
          postings.map((x) => (x.p.side === 'debit' ? x.p.amount : 0n).toString()),
          postings.map((x) => (x.p.side === 'credit' ? x.p.amount : 0n).toString()),
          postings.map((x) => x.p.reference ?? null),
        ]);
  const ids = new Map(rows.map((r) => [r.idempotency_key, r.transaction_id]));
  await beforeLate?.(ids);
  if (lastly.length > 0) await db.query(sql['update-balances'], changeColumns(lastly));
  return ids;
}

export function createPgLedger(deps: { pool: pg.Pool; onRetry?(code: string): void }) {
  /** Runs `work` in one database transaction, again from the start after a retriable failure. */
  async function unitOfWork<T>(work: (tx: LedgerTx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await deps.pool.connect();
      let broken = false;
      try {
        await client.query('begin');
        const result = await work(ledgerTx(client));
        await client.query('commit');
        return result;
      } catch (err) {
        await client.query('rollback').catch(() => (broken = true));
        const code = (err as { code?: string }).code ?? '';
        if (!RETRIABLE.has(code) || attempt >= ATTEMPTS) throw err;
        deps.onRetry?.(code);
        await sleep(Math.min(1_000, 5 * 2 ** attempt) * (0.5 + Math.random()));
      } finally {
        client.release(broken);
      }
    }
  }

  return {
    unitOfWork,
    /** Posts transfers on their own (funding, corrections): one unit of work, one result each. */
    async post(transfers: Transfer[]): Promise<TransferResult[]> {
      return unitOfWork(async (tx) => (await tx.post(transfers, await tx.lock(accountsOf(transfers)))).results);
    },
  };
}
export type PgLedger = ReturnType<typeof createPgLedger>;

/** A result that is not created/exists, as the error callers raise for it. */
export function refusal(result: TransferResult): PipelineError | undefined {
  if (result.status === 'created' || result.status === 'exists') return undefined;
  const detail =
    result.status === 'exceeds_balance'
      ? `: ${accountKey(result.account)}`
      : result.status === 'invalid'
        ? `: ${result.reason}`
        : '';
  return new PipelineError(result.status, `transfer refused (${result.status}${detail})`, { retriable: false });
}
