// Migration 0009 on databases seeded in the old form (bare user ids): every user's money, earnings,
// link and payouts move to one person, the journal is untouched, and the audit stays green.
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migratePostgres } from '../schemas/migrate.js';
import { earningId } from '../schemas/records.js';
import { createTestPostgres, silentLog } from '../test/support.js';
import { audit } from './audit.js';
import { fundingTransfer } from './earnings.js';
import { fen } from '../common/money.js';
import type { Transfer } from './ledger.js';
import { createPgLedger } from './ledger-pg.js';
import { createPayoutsStore } from './payouts-pg.js';
import { payoutRequest, payoutTransfer } from './payout-requests.js';

const migrations = join(import.meta.dirname, '../schemas/migrations/postgres');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A database migrated up to 0008 (the old form), a pool on it, and `upgrade` to run 0009 on. */
async function oldDatabase(apps: string[]) {
  const db = await createTestPostgres('migration');
  const old = mkdtempSync(join(tmpdir(), 'pg-0008-'));
  for (const f of readdirSync(migrations).filter((f) => f < '0009')) copyFileSync(join(migrations, f), join(old, f));
  await migratePostgres({ DATABASE_URL: db.url }, { log: silentLog, dir: old });
  rmSync(old, { recursive: true });
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  cleanups.push(async () => {
    await pool.end();
    await db.drop();
  });
  for (const app of apps) await pool.query('insert into apps (app_id) values ($1)', [app]);
  const ledger = createPgLedger({ pool });
  await ledger.post([fundingTransfer('c1', fen(10_000), 'r', 'CNY')]);
  let at = Date.UTC(2026, 0, 1);

  return {
    pool,
    ledger,
    /** An earning posted as the code before 0009 posted it: user_available owned by the bare user id. */
    async earn(userId: string, appId: string, amount: number, status: 'posted' | 'refused' = 'posted') {
      const source = randomUUID();
      const id = earningId(source);
      let tx: string | null = null;
      if (status === 'posted') {
        const transfer: Transfer = {
          key: `earnings:${source}`,
          kind: 'earning',
          reference: '',
          postings: [
            { account: { type: 'campaign_budget', owner: 'c1', currency: 'CNY' }, side: 'debit', amount: fen(amount) },
            {
              account: { type: 'user_available', owner: userId, currency: 'CNY' },
              side: 'credit',
              amount: fen(amount),
              reference: id,
            },
          ],
        };
        await ledger.post([transfer]);
        tx = (
          await pool.query<{ transaction_id: string }>(
            'select transaction_id from transactions where idempotency_key = $1',
            [transfer.key],
          )
        ).rows[0]!.transaction_id;
      }
      at += 60_000;
      await pool.query(
        `insert into earnings (earning_id, source_event_id, app_id, user_id, campaign_id, type, event_time, verified_at, day, status, reason, amount_fen, transaction_id)
        values ($1, $2, $3, $4, 'c1', 'REWARD_COMPLETE', to_timestamp($5 / 1000.0), to_timestamp($5 / 1000.0), '2026-01-01', $6, $7, $8, $9)`,
        [
          id,
          source,
          appId,
          userId,
          at,
          status,
          status === 'posted' ? '' : 'daily_cap',
          status === 'posted' ? amount : 0,
          tx,
        ],
      );
    },
    async link(userId: string) {
      await pool.query(
        `insert into wechat_links (user_id, appid, openid_mac, openid_enc, access_token_enc, refresh_token_enc, token_expires_at)
        values ($1, 'wx', convert_to($1, 'UTF8'), '\\x00', '\\x00', '\\x00', now())`,
        [userId],
      );
    },
    /** A withdrawal as the code before 0009 made it: its key names the bare user id. */
    async withdraw(userId: string, amount: number, key: string) {
      const request = payoutRequest(userId, fen(amount), 'CNY', 'withdrawal', key);
      await ledger.unitOfWork(async (tx) => {
        const accounts = await tx.lock(payoutTransfer(request, 'hold').postings.map((p) => p.account));
        const { results } = await tx.post([payoutTransfer(request, 'hold')], accounts);
        if (results[0]!.status !== 'created') return;
        await tx.db.query(
          "insert into payouts (payout_id, user_id, amount_fen, source, idempotency_key) values ($1, $2, $3, 'withdrawal', $4)",
          [request.payoutId, request.person, amount, request.idempotencyKey],
        );
      });
      return request.payoutId;
    },
    upgrade: () => migratePostgres({ DATABASE_URL: db.url }, { log: silentLog, dir: migrations }),
    async owners() {
      const { rows } = await pool.query<{ type: string; owner: string; balance: string }>(
        "select type, owner, credits - debits as balance from accounts where type like 'user%' or type = 'payout_clearing' order by owner, type",
      );
      return rows.map((r) => `${r.type} ${r.owner} ${r.balance}`);
    },
    column: async (table: string) =>
      (await pool.query<{ user_id: string }>(`select distinct user_id from ${table} order by 1`)).rows.map(
        (r) => r.user_id,
      ),
    breaches: async () => {
      const client = await pool.connect();
      try {
        return (await audit(client)).filter((r) => r.breaches > 0);
      } finally {
        client.release();
      }
    },
  };
}

describe('migration 0009 (person identity)', () => {
  it('gives each bare user id the app of its earliest earning, everywhere at once, and keeps the journal valid', async () => {
    const d = await oldDatabase(['app.a', 'app.b']);
    await d.earn('u1', 'app.b', 30); // u1 earned in app.b first...
    await d.earn('u1', 'app.a', 20); // ...then in app.a: still one account, now app.b's u1
    await d.earn('a:b', 'app.a', 250); // a bare id with ':' ('a' is no app): app.a's "a:b"
    await d.earn('u3', 'app.a', 0, 'refused');
    await d.link('a:b');
    const payout = await d.withdraw('a:b', 100, 'k1');
    await d.link('lonely'); // linked, never earned, and two apps: which one is unknown
    await d.withdraw('lonely', 100, 'k'); // refused for want of money, but it opened empty accounts
    await d.earn('app.a:x', 'app.a', 40); // a bare id that looks like a person key: still the user "app.a:x"
    await d.link('app.a:x');
    await d.earn('x', 'app.a', 20); // and app.a's "x", someone else
    await d.withdraw('app.a:y', 100, 'k'); // a user "app.a:y" without earnings (empty accounts), and app.a's "y" with some
    await d.earn('y', 'app.a', 10);
    const journal = (await d.pool.query('select * from postings order by posting_id')).rows;
    const before = (await d.pool.query('select account_id, debits, credits from accounts order by account_id')).rows;

    expect(await d.upgrade()).toBe(
      readdirSync(migrations).filter((f) => /^\d{4}_.*\.sql$/.test(f) && f >= '0009').length,
    ); // 0009 and those after it

    expect(await d.owners()).toEqual([
      // Empty accounts of users with no app to tell, aside where no person key can name them.
      'user_available :app.a:y 0',
      'user_held :app.a:y 0',
      'user_available :lonely 0',
      'user_held :lonely 0',
      'user_available app.a:a:b 150',
      'user_held app.a:a:b 100',
      'user_available app.a:app.a:x 40',
      'user_available app.a:x 20',
      'user_available app.a:y 10',
      'user_available app.b:u1 50',
    ]);
    expect(await d.column('earnings')).toEqual([
      'app.a:a:b',
      'app.a:app.a:x',
      'app.a:u3',
      'app.a:x',
      'app.a:y',
      'app.b:u1',
    ]);
    expect(await d.column('wechat_links')).toEqual(['app.a:a:b', 'app.a:app.a:x']); // lonely links again
    expect(await d.column('payouts')).toEqual(['app.a:a:b']);
    // Nothing in the journal moved, and every balance is where it was, by account.
    expect((await d.pool.query('select * from postings order by posting_id')).rows).toEqual(journal);
    expect((await d.pool.query('select account_id, debits, credits from accounts order by account_id')).rows).toEqual(
      before,
    );
    expect(await d.breaches()).toEqual([]);

    // A withdrawal retried across the upgrade finds its payout, by its person only.
    const payouts = createPayoutsStore({ currency: 'CNY' }, { ledger: d.ledger, pool: d.pool });
    const retried = await payouts.requestWithdrawal({ appId: 'app.a', userId: 'a:b' }, fen(100), 'k1');
    expect(retried).toMatchObject({ status: 'exists', payout: { payoutId: payout } });
    expect(await payouts.requestWithdrawal({ appId: 'app.b', userId: 'a:b' }, fen(100), 'k1')).toEqual({
      status: 'wechat_not_linked',
    });
    // The earnings stay append-only.
    expect(
      await d.pool.query("update earnings set user_id = 'x'").then(
        () => 'ok',
        (err: Error) => err.message,
      ),
    ).toMatch(/append-only/);
  });

  it('gives a user without earnings the only app, when there is one', async () => {
    const d = await oldDatabase(['solo']);
    await d.link('lonely');
    await d.withdraw('lonely', 100, 'k');
    await d.upgrade();
    expect(await d.column('wechat_links')).toEqual(['solo:lonely']);
    expect(await d.owners()).toEqual(['user_available solo:lonely 0', 'user_held solo:lonely 0']);
  });

  it('stops, naming the user, when money has no earnings to tell its app', async () => {
    const d = await oldDatabase(['app.a', 'app.b']);
    await d.ledger.post([
      {
        key: 'correction-1',
        kind: 'correction',
        reference: 'manual',
        postings: [
          { account: { type: 'campaign_budget', owner: 'c1', currency: 'CNY' }, side: 'debit', amount: fen(5) },
          { account: { type: 'user_available', owner: 'ghost', currency: 'CNY' }, side: 'credit', amount: fen(5) },
        ],
      },
    ]);
    await expect(d.upgrade()).rejects.toThrow(/user ghost has money/);
    expect(await d.owners()).toEqual(['user_available ghost 5']); // the migration rolled back whole
  });
});
