// The ledger against the real Postgres: the database's own guards, and property-based command
// sequences (earn, replay, rule change, fund, withdraw, settle, release, several at once) that check
// every money invariant after every step. LEDGER_RUNS sets the number of runs (1,000 in long mode).
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { migratePostgres } from '../schemas/migrate.js';
import { createTestPostgres, silentLog } from '../test/support.js';
import { audit } from './audit.js';
import { createEarningsPoster } from './earnings-pg.js';
import { CHINA_OFFSET_MS, fundingTransfer, type Earning } from './earnings.js';
import { fundCampaign } from './funding-pg.js';
import { fen } from '../common/money.js';
import { legacyKey } from './ledger.js';
import { createPgLedger } from './ledger-pg.js';
import { createPayoutsStore } from './payouts-pg.js';
import { person, TEST_APP, testEarning } from './test-support.js';

const RUNS = Number(process.env.LEDGER_RUNS ?? 40);
let db: Awaited<ReturnType<typeof createTestPostgres>>;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestPostgres('ledger');
  await migratePostgres(
    { DATABASE_URL: db.url },
    { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/postgres') },
  );
  pool = new pg.Pool({ connectionString: db.url, max: 8 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

describe('the database guards', () => {
  it('refuses an unbalanced transaction, an edit of the journal and an overdraft, whatever the code does', async () => {
    const ledger = createPgLedger({ pool });
    await ledger.post([fundingTransfer('guard', fen(100), 'r1', 'CNY')]);
    const [{ account_id: budget }] = (
      await pool.query<{ account_id: string }>("select account_id from accounts where owner = 'guard'")
    ).rows as [{ account_id: string }];
    const sql = async (text: string) =>
      pool.query(text).then(
        () => 'ok',
        (err: Error) => err.message,
      );
    expect(
      await sql(`with t as (insert into transactions (idempotency_key, kind, content_hash) values ('x', 'correction', '\\x00') returning transaction_id)
      insert into postings (transaction_id, account_id, currency, debit, credit) select transaction_id, ${budget}, 'CNY', 5, 0 from t`),
    ).toMatch(/does not balance/);
    expect(
      await sql(`with t as (insert into transactions (idempotency_key, kind, content_hash) values ('y', 'correction', '\\x00') returning transaction_id)
      insert into postings (transaction_id, account_id, currency, debit, credit) select transaction_id, a, 'CNY', 5 * (a = ${budget})::int, 5 * (a <> ${budget})::int
      from t, unnest(array[${budget}, -1]) a`),
    ).toMatch(/account -1 is missing/);
    expect(
      await sql(
        `insert into postings (transaction_id, account_id, currency, debit, credit) values (-7, ${budget}, 'CNY', 5, 0), (-7, ${budget}, 'CNY', 0, 5)`,
      ),
    ).toMatch(/transaction -7 does not exist/);
    expect(
      await sql(`insert into postings (transaction_id, account_id, currency, debit, credit)
      select transaction_id, ${budget}, 'CNY', d, 5 - d from transactions, unnest(array[0, 5]) d`),
    ).toMatch(/already has postings/);
    expect(await sql('update postings set credit = credit + 1')).toMatch(/append-only/);
    expect(await sql('delete from transactions')).toMatch(/append-only/);
    expect(await sql(`update accounts set debits = debits + 101 where account_id = ${budget}`)).toMatch(
      /account_not_overdrawn/,
    );
  });
});

describe('funding', () => {
  it('posts a funding once, also when the first was posted under the old key form, and keeps colliding campaigns apart', async () => {
    const ledger = createPgLedger({ pool });
    const budget = async (campaign: string) =>
      (
        await pool.query<{ b: string }>(
          "select credits - debits as b from accounts where type = 'campaign_budget' and owner = $1",
          [campaign],
        )
      ).rows[0]?.b;
    // Posted before the upgrade, as "fund:a:b:c" (campaign a:b, reference c).
    await ledger.post([{ ...fundingTransfer('a:b', fen(100), 'c', 'CNY'), key: legacyKey('fund', 'a:b', 'c') }]);
    expect(await fundCampaign(ledger, 'a:b', fen(100), 'c', 'CNY')).toEqual({ status: 'exists' });
    // The same campaign and reference with another amount is refused, as before the upgrade.
    expect(await fundCampaign(ledger, 'a:b', fen(150), 'c', 'CNY')).toEqual({
      status: 'exists_with_different_content',
    });
    // Campaign a, reference b:c: the same old key, another funding.
    expect(await fundCampaign(ledger, 'a', fen(70), 'b:c', 'CNY')).toEqual({ status: 'created' });
    expect(await fundCampaign(ledger, 'a', fen(70), 'b:c', 'CNY')).toEqual({ status: 'exists' });
    expect([await budget('a:b'), await budget('a')]).toEqual(['100', '70']);
  });
});

describe('the audit', () => {
  it('reports a balance that disagrees with the journal, and the command exits non-zero', async () => {
    const scratch = await createTestPostgres('audit');
    try {
      await migratePostgres(
        { DATABASE_URL: scratch.url },
        { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/postgres') },
      );
      const db = new pg.Pool({ connectionString: scratch.url, max: 1 });
      await createPgLedger({ pool: db }).post([fundingTransfer('c', fen(100), 'r', 'CNY')]);
      const runAudit = () =>
        spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'audit-main.ts')], {
          env: { ...process.env, DATABASE_URL: scratch.url },
          encoding: 'utf8',
        });
      expect(runAudit().status).toBe(0);
      await db.query("update accounts set credits = credits + 5 where type = 'campaign_budget'"); // money from nowhere
      const failed = runAudit();
      expect(failed.status).toBe(1);
      expect(failed.stdout).toMatch(/FAIL balances-match-journal/);
      expect(failed.stdout).toMatch(/FAIL ledger-zero-sum/);
      expect(failed.stdout).toMatch(/ok {3}earnings-credited-once/);
      // A reward that no earning record names: money credited outside the rewards flow.
      await createPgLedger({ pool: db }).post([
        {
          key: 'stray',
          kind: 'earning',
          reference: '',
          postings: [
            { account: { type: 'campaign_budget', owner: 'c', currency: 'CNY' }, side: 'debit', amount: fen(5) },
            {
              account: { type: 'user_available', owner: 'u', currency: 'CNY' },
              side: 'credit',
              amount: fen(5),
              reference: randomUUID(),
            },
          ],
        },
      ]);
      expect(runAudit().stdout).toMatch(/FAIL earnings-credited-once/);
      await db.end();
    } finally {
      await scratch.drop();
    }
  });
});

describe('platform daily limits', () => {
  it('hold across concurrent batches: never more than a limit is posted per person or per device', async () => {
    const money = { userDailyLimitFen: fen(50), deviceDailyLimitFen: fen(70), timezoneOffsetMs: CHINA_OFFSET_MS };
    const post = createEarningsPoster(
      { thresholdFen: fen(1_000_000), currency: 'CNY', money },
      { ledger: createPgLedger({ pool }) },
    );
    await pool.query('insert into apps (app_id) values ($1) on conflict do nothing', [TEST_APP]);
    await pool.query("insert into campaigns (campaign_id, app_id) values ('limits', $1)", [TEST_APP]);
    await pool.query(
      "insert into reward_rules (campaign_id, reward_complete_fen, conversion_fen, effective_from) values ('limits', 10, 10, now() - interval '1 minute')",
    );
    await createPgLedger({ pool }).post([fundingTransfer('limits', fen(100_000), 'limits', 'CNY')]);
    // One person on 16 devices, and 16 persons on one device, each earning alone in its own batch, all at once.
    const onePerson = Array.from({ length: 16 }, (_, i) =>
      testEarning('limit-person', 'limits', { deviceId: `own-device-${i}` }),
    );
    const oneDevice = Array.from({ length: 16 }, (_, i) =>
      testEarning(`limit-user-${i}`, 'limits', { deviceId: 'limit-device' }),
    );
    await Promise.all([...onePerson, ...oneDevice].map((e) => post([e])));
    const { rows } = await pool.query<{
      who: string;
      status: string;
      fen: string;
      n: string;
    }>(`select case when device_id = 'limit-device' then 'device' else 'person' end as who,
      status, sum(amount_fen) as fen, count(*) as n from earnings where campaign_id = 'limits' group by 1, 2 order by 1, 2`);
    expect(rows.map((r) => `${r.who} ${r.status} ${r.fen} ${r.n}`)).toEqual([
      'device posted 70 7',
      'device review 90 9',
      'person posted 50 5',
      'person review 110 11',
    ]);
    const client = await pool.connect();
    try {
      expect((await audit(client)).filter((r) => r.breaches > 0)).toEqual([]);
    } finally {
      client.release();
    }
  });
});

type Op =
  | { op: 'earn'; user: number; campaign: number; conversion: boolean }
  | { op: 'replay'; pick: number }
  | { op: 'rule'; campaign: number; amount: number; cap: number | null }
  | { op: 'fund'; campaign: number; amount: number }
  | { op: 'withdraw'; user: number; amount: number; key: number }
  | { op: 'finish'; pick: number; settle: boolean }
  | { op: 'concurrent'; ops: Op[] };

const single: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('earn' as const),
      user: fc.nat(3),
      campaign: fc.nat(2),
      conversion: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('replay' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('rule' as const),
      campaign: fc.nat(1),
      amount: fc.integer({ min: 0, max: 80 }),
      cap: fc.option(fc.integer({ min: 1, max: 200 })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('fund' as const),
      campaign: fc.nat(1),
      amount: fc.integer({ min: 1, max: 300 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('withdraw' as const),
      user: fc.nat(3),
      amount: fc.integer({ min: 1, max: 150 }),
      key: fc.nat(3),
    }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('finish' as const), pick: fc.nat(), settle: fc.boolean() }) },
);
const ops = fc.array(
  fc.oneof(
    { weight: 5, arbitrary: single },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('concurrent' as const),
        ops: fc.array(single, { minLength: 2, maxLength: 4 }),
      }),
    },
  ),
  { minLength: 1, maxLength: 20 },
);

let run = 0;
const seen = new Set<string>(); // what the runs exercised: a property that never posts proves nothing

describe('ledger properties', () => {
  it(
    `keeps every money invariant after every step of random command sequences (${RUNS} runs)`,
    async () => {
      const ledger = createPgLedger({ pool });
      const postEarnings = createEarningsPoster({ thresholdFen: fen(100), currency: 'CNY' }, { ledger });
      const payouts = createPayoutsStore({ currency: 'CNY' }, { ledger, pool });
      const client = await pool.connect();
      try {
        await fc.assert(
          fc.asyncProperty(ops, async (sequence) => {
            run++;
            const user = (i: number) => `r${run}-u${i}`;
            const campaign = (i: number) => `r${run}-c${i}`;
            const sent: Earning[] = [];
            const credited = new Map<string, bigint>(); // what each earning credited, the first time
            // Users 0..2 have linked WeChat (so the threshold and withdrawals apply to them), user 3 has not.
            await pool.query(
              `insert into wechat_links (user_id, appid, openid_mac, openid_enc, access_token_enc, refresh_token_enc, token_expires_at)
          select u, 'wx', convert_to(u, 'UTF8'), '\\x00', '\\x00', '\\x00', now() from (select $1 || i as u from generate_series(0, 2) i) x`,
              [person(`r${run}-u`)],
            );
            // The campaigns belong to the users' app, so their confirmed earnings can earn.
            await pool.query('insert into apps (app_id) values ($1) on conflict do nothing', [TEST_APP]);
            await pool.query(
              'insert into campaigns (campaign_id, app_id) select $1 || i, $2 from generate_series(0, 2) i',
              [`r${run}-c`, TEST_APP],
            );

            async function step(o: Op, concurrent = false): Promise<void> {
              if (o.op === 'earn' || o.op === 'replay') {
                const e =
                  o.op === 'earn'
                    ? testEarning(user(o.user), campaign(o.campaign), {
                        type: o.conversion ? 'CONVERSION' : 'REWARD_COMPLETE',
                      })
                    : sent[o.pick % Math.max(sent.length, 1)];
                if (!e) return;
                if (o.op === 'earn') sent.push(e);
                const { records, replayed, payouts: requested } = await postEarnings([e]);
                if (requested.length > 0) seen.add('threshold payout');
                if (replayed > 0) seen.add('earning replayed');
                expect(records.length + replayed).toBe(1);
                if (o.op === 'replay' && !concurrent) expect(replayed).toBe(1); // (at once, the replay may be the first to post)
                for (const r of records) {
                  expect(credited.has(r.earning.earningId)).toBe(false); // at-most-once, seen from the caller
                  credited.set(r.earning.earningId, r.outcome.status === 'posted' ? r.amountFen : 0n);
                  seen.add(`earning ${r.outcome.status === 'posted' ? 'posted' : r.outcome.reason}`);
                }
              } else if (o.op === 'rule') {
                // Two changes of one campaign's rule at once can read the same microsecond (the key):
                // the one refused is made again, as the operator would.
                for (;;) {
                  const made = await pool
                    .query(
                      'insert into reward_rules (campaign_id, reward_complete_fen, conversion_fen, user_daily_cap_fen, effective_from) values ($1, $2, $3, $4, clock_timestamp())',
                      [campaign(o.campaign), o.amount, o.amount * 2, o.cap],
                    )
                    .then(
                      () => true,
                      (err: { code?: string }) => {
                        if (err.code !== '23505') throw err;
                        return false;
                      },
                    );
                  if (made) break;
                }
              } else if (o.op === 'fund') {
                await ledger.post([fundingTransfer(campaign(o.campaign), fen(o.amount), `f${Math.random()}`, 'CNY')]);
              } else if (o.op === 'withdraw') {
                const result = await payouts.requestWithdrawal(
                  { appId: TEST_APP, userId: user(o.user) },
                  fen(o.amount),
                  `k${o.key}`,
                );
                expect([
                  'created',
                  'exists',
                  'idempotency_key_reused',
                  'insufficient_funds',
                  'wechat_not_linked',
                  'payout_in_flight',
                ]).toContain(result.status);
                seen.add(`withdraw ${result.status}`);
              } else if (o.op === 'finish') {
                const { rows } = await pool.query<{ payout_id: string }>(
                  'select payout_id from payouts where user_id like $1 order by created_at, payout_id',
                  [person(`r${run}-%`)],
                );
                const payout = rows[o.pick % Math.max(rows.length, 1)];
                if (!payout) return;
                const result = await payouts.finish(payout.payout_id, o.settle ? 'settle' : 'release');
                expect(['created', 'exists', 'already_finished']).toContain(result);
                seen.add(`${o.settle ? 'settle' : 'release'} ${result}`);
              } else {
                await Promise.all(o.ops.map((x) => step(x, true)));
              }
            }

            // A start that lets money move; the random steps then change rules and budgets as they go.
            const preamble: Op[] = [
              { op: 'rule', campaign: 0, amount: 30, cap: null },
              { op: 'rule', campaign: 1, amount: 20, cap: 60 },
              { op: 'fund', campaign: 0, amount: 400 },
              { op: 'fund', campaign: 1, amount: 50 },
              ...[0, 0, 0, 0, 1, 1, 1].map((u): Op => ({ op: 'earn', user: u, campaign: 0, conversion: false })), // user 0 reaches the threshold
              ...[2, 2, 2].map((u): Op => ({ op: 'earn', user: u, campaign: 1, conversion: false })),
            ]; // the third passes campaign 1's budget
            for (const o of preamble) await step(o);
            for (const o of sequence) {
              await step(o);
              expect((await audit(client)).filter((r) => r.breaches > 0)).toEqual([]);
            }
            // Each user's money (available + held + paid out) is exactly what their earnings credited.
            const { rows } = await pool.query<{ owner: string; total: string }>(
              "select owner, sum(credits - debits) as total from accounts where owner like $1 and type in ('user_available', 'user_held', 'payout_clearing') group by owner",
              [person(`r${run}-%`)],
            );
            const expected = new Map<string, bigint>();
            for (const e of sent)
              expected.set(
                person(e.userId),
                (expected.get(person(e.userId)) ?? 0n) + (credited.get(e.earningId) ?? 0n),
              );
            for (const r of rows) expect(BigInt(r.total)).toBe(expected.get(r.owner) ?? 0n);
          }),
          { numRuns: RUNS },
        );
      } finally {
        client.release();
      }
      for (const outcome of [
        'earning posted',
        'earning replayed',
        'earning no_rule',
        'earning daily_cap',
        'earning budget_exhausted',
        'threshold payout',
        'withdraw created',
        'withdraw insufficient_funds',
        'settle created',
        'release created',
      ]) {
        expect([...seen], outcome).toContain(outcome);
      }
    },
    30 * 60_000,
  );
});
