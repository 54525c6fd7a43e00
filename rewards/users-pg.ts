// What the API reads and writes about one person (`<app_id>:<user_id>`, common/person.ts): balances
// (O(1), from the materialised accounts), ledger history (postings on the person's accounts, newest
// first, by posting-id cursor) and the WeChat link (sealed at rest).
import type pg from 'pg';
import { loadSql } from '../common/sql.js';
import { balanceOf } from './ledger.js';
import type { SecretBox } from '../common/secretbox.js';
import type { OAuthGrant } from './wechat-oauth.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'user-balances',
  'user-ledger',
  'upsert-link',
  'set-real-name',
] as const);

const names = { user_available: 'available', user_held: 'held', payout_clearing: 'paid_out' } as const;

export interface LedgerEntry {
  id: string;
  at: string;
  kind: string;
  reference: string;
  account: string;
  currency: string;
  amount: number;
}

export function createUsersStore(config: { currency: string }, deps: { pool: pg.Pool; box: SecretBox }) {
  return {
    async balance(person: string): Promise<{ available: number; held: number; paid_out: number }> {
      const { rows } = await deps.pool.query<{ type: keyof typeof names; debits: string; credits: string }>(
        sql['user-balances'],
        [person, config.currency],
      );
      const balance = { available: 0, held: 0, paid_out: 0 };
      for (const r of rows)
        balance[names[r.type]] = Number(
          balanceOf({ type: r.type, debits: BigInt(r.debits), credits: BigInt(r.credits) }),
        );
      return balance;
    },

    /** Up to `limit` entries older than posting `before` (all when undefined). */
    async history(person: string, opts: { limit: number; before?: bigint }): Promise<LedgerEntry[]> {
      const { rows } = await deps.pool.query<{
        posting_id: string;
        account: keyof typeof names;
        currency: string;
        debit: string;
        credit: string;
        kind: string;
        reference: string;
        created_at: Date;
      }>(sql['user-ledger'], [person, opts.before?.toString() ?? null, opts.limit]);
      return rows.map((r) => ({
        id: r.posting_id,
        at: r.created_at.toISOString(),
        kind: r.kind,
        reference: r.reference,
        account: names[r.account],
        currency: r.currency,
        amount: Number(BigInt(r.credit) - BigInt(r.debit)), // every user account is credit-normal
      }));
    },

    /** Stores the person's WeChat link; false when the openid is already linked to another person. */
    async link(person: string, appid: string, grant: OAuthGrant, nowMs: number): Promise<boolean> {
      try {
        await deps.pool.query(sql['upsert-link'], [
          person,
          appid,
          deps.box.mac(`${appid}/${grant.openid}`),
          deps.box.seal(grant.openid),
          deps.box.seal(grant.accessToken),
          deps.box.seal(grant.refreshToken),
          grant.scope,
          nowMs + grant.expiresInS * 1000,
        ]);
        return true;
      } catch (err) {
        if ((err as { code?: string }).code === '23505') return false;
        throw err;
      }
    },

    /** Stores the person's real name, sealed, for their WeChat link; when it was given, or undefined without a link. */
    async setRealName(person: string, name: string, nowMs: number): Promise<Date | undefined> {
      const { rows } = await deps.pool.query<{ real_name_at: Date }>(sql['set-real-name'], [
        person,
        deps.box.seal(name),
        nowMs,
      ]);
      return rows[0]?.real_name_at;
    },
  };
}
export type UsersStore = ReturnType<typeof createUsersStore>;
