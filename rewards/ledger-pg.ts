// The ledger on Postgres. Work happens in a unit of work: one database transaction that locks the
// accounts it touches (in account_id order), checks transfers with the pure planTransfers and writes
// the created ones with a few set-based statements. Serialization failures, deadlocks and races on
// a new key are retried with backoff; the caller's function must therefore be safe to run again.
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { PipelineError } from '../common/errors.js';
import { loadSql } from '../common/sql.js';
import { accountKey, accountsOf, contentHash, planTransfers, type Account, type AccountRef, type Existing, type Transfer, type TransferResult } from './ledger.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'lock-accounts', 'create-accounts', 'find-transactions', 'insert-transactions', 'insert-postings', 'update-balances',
] as const);

// 40001 serialization failure, 40P01 deadlock, 23505 a unique key another transaction took first.
const RETRIABLE = new Set(['40001', '40P01', '23505']);
const ATTEMPTS = 8;

interface AccountRow { account_id: string; type: Account['type']; currency: string; owner: string; debits: string; credits: string }
const toAccount = (r: AccountRow): Account => ({ id: r.account_id, type: r.type, currency: r.currency, owner: r.owner, debits: BigInt(r.debits), credits: BigInt(r.credits) });
const columns = (refs: AccountRef[]) => [refs.map((r) => r.type), refs.map((r) => r.currency), refs.map((r) => r.owner)];

export type LedgerTx = ReturnType<typeof ledgerTx>;

function ledgerTx(db: pg.ClientBase) {
  return {
    db,
    /** Locks (opening where needed) the accounts named, and returns them keyed by accountKey. */
    async lock(refs: AccountRef[]): Promise<Map<string, Account>> {
      const accounts = new Map<string, Account>();
      const add = (rows: AccountRow[]) => rows.forEach((r) => accounts.set(accountKey(toAccount(r)), toAccount(r)));
      add((await db.query<AccountRow>(sql['lock-accounts'], columns(refs))).rows);
      let missing = refs.filter((r) => !accounts.has(accountKey(r)));
      if (missing.length > 0) add((await db.query<AccountRow>(sql['create-accounts'], columns(missing))).rows);
      missing = missing.filter((r) => !accounts.has(accountKey(r)));
      // Opened by a concurrent transaction since our first look: lock them too.
      if (missing.length > 0) add((await db.query<AccountRow>(sql['lock-accounts'], columns(missing))).rows);
      return accounts;
    },

    async existing(keys: string[]): Promise<Map<string, Existing>> {
      const { rows } = await db.query<{ idempotency_key: string; content_hash: Buffer }>(sql['find-transactions'], [keys]);
      return new Map(rows.map((r) => [r.idempotency_key, { hash: r.content_hash }]));
    },

    /** Writes `created` transfers and moves each account's balance from `before` to `accounts`. */
    write: (created: Transfer[], before: Map<string, Account>, accounts: Map<string, Account>) => write(db, created, accounts, before),

    /** Checks `transfers` against the locked accounts and writes the created ones. */
    async post(transfers: Transfer[], accounts: Map<string, Account>) {
      const before = snapshot(accounts);
      const results = planTransfers(transfers, { accounts, existing: await this.existing(transfers.map((t) => t.key)) });
      const ids = await write(db, transfers.filter((_, i) => results[i]!.status === 'created'), accounts, before);
      return { results, ids };
    },
  };
}

export const snapshot = (accounts: Map<string, Account>) => new Map([...accounts].map(([k, a]) => [k, { ...a }]));

async function write(db: pg.ClientBase, created: Transfer[], after: Map<string, Account>, before: Map<string, Account>): Promise<Map<string, string>> {
  if (created.length === 0) return new Map();
  const { rows } = await db.query<{ transaction_id: string; idempotency_key: string }>(sql['insert-transactions'], [
    created.map((t) => t.key), created.map((t) => t.kind), created.map((t) => t.reference), created.map(contentHash),
  ]);
  const ids = new Map(rows.map((r) => [r.idempotency_key, r.transaction_id]));
  const postings = created.flatMap((t) => t.postings.map((p) => ({ tx: ids.get(t.key)!, account: after.get(accountKey(p.account))!, p })));
  await db.query(sql['insert-postings'], [
    postings.map((x) => x.tx), postings.map((x) => x.account.id), postings.map((x) => x.p.account.currency),
    postings.map((x) => (x.p.side === 'debit' ? x.p.amount : 0n).toString()), postings.map((x) => (x.p.side === 'credit' ? x.p.amount : 0n).toString()),
  ]);
  const changed = [...after].filter(([k, a]) => a.debits !== before.get(k)!.debits || a.credits !== before.get(k)!.credits);
  await db.query(sql['update-balances'], [
    changed.map(([, a]) => a.id),
    changed.map(([k, a]) => (a.debits - before.get(k)!.debits).toString()),
    changed.map(([k, a]) => (a.credits - before.get(k)!.credits).toString()),
  ]);
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
  const detail = result.status === 'exceeds_balance' ? `: ${accountKey(result.account)}` : result.status === 'invalid' ? `: ${result.reason}` : '';
  return new PipelineError(result.status, `transfer refused (${result.status}${detail})`, { retriable: false });
}
