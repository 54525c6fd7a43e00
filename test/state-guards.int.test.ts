// The payout state machine's guards in Postgres: every state column refuses a state the code does not
// know (CHECK constraints), and every move names the state it starts from, so a move that finds the
// row elsewhere changes nothing instead of forcing it. And each side of a campaign has one owner.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fen } from '../common/money.js';
import { createSecretBox } from '../common/secretbox.js';
import type { BatchParams } from '../payouts/providers/provider.js';
import { createPayoutsStore, type BatchState } from '../payouts/store-pg.js';
import { migratePostgres } from '../schemas/migrate.js';
import { createTestPostgres, silentLog } from './support.js';

let db: Awaited<ReturnType<typeof createTestPostgres>>;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestPostgres('states');
  await migratePostgres(
    { DATABASE_URL: db.url },
    { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/postgres') },
  );
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

/** A payout in `state`, with its transfer in batch `batchNo` (created in `batchState`). */
async function payout(
  state: string,
  batchNo = `B${randomBytes(8).toString('hex')}`,
  batchState: BatchState = 'formed',
) {
  const id = randomUUID();
  await pool.query(
    "insert into payouts (payout_id, user_id, amount_fen, source, idempotency_key, state) values ($1, 'u1', 100, 'threshold', $2, $3)",
    [id, `key-${id}`, state],
  );
  await pool.query("insert into payout_batches (batch_no, api, state) values ($1, 'v3_batch', $2)", [
    batchNo,
    batchState,
  ]);
  await pool.query(
    "insert into payout_transfers (payout_id, request_no, user_id, amount_fen, openid_enc, batch_no, state) values ($1, $2, 'u1', 100, '\\x00', $3, 'batched')",
    [id, id.replaceAll('-', ''), batchNo],
  );
  return { id, batchNo };
}

describe('state columns', () => {
  it.each([
    ['payouts.state', "update payouts set state = 'sent' where payout_id = $1"],
    ['payout_events.state', "insert into payout_events (payout_id, state) values ($1, 'sent')"],
    [
      'payout_events.state (a payouts-service word)',
      "insert into payout_events (payout_id, state) values ($1, 'batched')",
    ],
    ['payout_transfer_events.state', "insert into payout_transfer_events (payout_id, state) values ($1, 'paid')"],
    [
      'payout_authorizations.state',
      "insert into payout_authorizations (person, out_authorization_no, openid_mac, state) values ($1::text, 'A1', '\\x00', 'authorized; drop')",
    ],
    [
      'payout_batches.state',
      "update payout_batches set state = 'sent' where batch_no = (select batch_no from payout_transfers where payout_id = $1)",
    ],
    ['payout_transfers.state', "update payout_transfers set state = 'sent' where payout_id = $1"],
  ])('%s refuses a state the code does not know', async (_column, statement) => {
    const { id } = await payout('requested');
    await expect(pool.query(statement, [id])).rejects.toMatchObject({ code: '23514' });
  });
});

const risk = { maxDailyCount: 10, maxDailyFen: fen(1), newLinkHoldMs: 0, maxPerHour: 1, realNameFen: fen(1) };
const polls = { pollMs: 60_000, waitPollMs: 3_600_000, packageMaxAgeMs: 3_600_000 };
const params: BatchParams = {
  remark: 'reward',
  sceneId: '1000',
  sceneReport: [{ info_type: '活动名称', info_content: 'a' }],
};

describe('batch parameters', () => {
  // A batch sent again (a lost submit, a bill created again for its package) must carry the body it
  // was first sent with: WeChat refuses the same number with other parameters, and the money is stuck.
  it('a batch keeps the parameters it was formed with, whatever the config says later', async () => {
    const box = createSecretBox(randomBytes(32));
    const id = randomUUID();
    await pool.query(
      "insert into wechat_links (user_id, appid, openid_mac, openid_enc, access_token_enc, refresh_token_enc, token_expires_at) values ('app.p:u1', 'wx', '\\x01', '\\x00', '\\x00', '\\x00', now())",
    );
    await pool.query(
      "insert into payouts (payout_id, user_id, amount_fen, source, idempotency_key, state) values ($1, 'app.p:u1', 100, 'threshold', $2, 'requested')",
      [id, `key-${id}`],
    );
    await pool.query(
      "insert into payout_transfers (payout_id, request_no, user_id, amount_fen, openid_enc) values ($1, $2, 'app.p:u1', 100, $3)",
      [id, id.replaceAll('-', ''), box.seal('o1')],
    );
    const make = (p: BatchParams) =>
      createPayoutsStore(
        {
          api: 'v3_bill',
          maxBatch: 1,
          maxAgeMs: 0,
          risk: { ...risk, maxDailyFen: fen(1_000), realNameFen: fen(1_000) },
          params: p,
          polls,
          confirmMode: 'page',
        },
        { pool, box, fraudReasons: async () => new Map(), now: Date.now },
      );
    const { batchNo } = await make(params).formBatch();
    const later = await make({ ...params, remark: 'changed', notifyUrl: 'https://example.com/n' }).batch(batchNo!);
    expect(later.params).toEqual(params);
  });
});

describe('batch moves', () => {
  const store = () =>
    createPayoutsStore(
      { api: 'v3_batch', maxBatch: 1000, maxAgeMs: 0, risk, params, polls, confirmMode: 'page' },
      { pool, box: createSecretBox(randomBytes(32)), fraudReasons: async () => new Map(), now: Date.now },
    );
  it.each([
    ['formed', 'formed', 'submitted', true],
    ['submitted', 'submitted', 'finished', true],
    ['submitted', 'submitted', 'submitted', true],
    ['submitted', 'formed', 'submitted', false],
    ['formed', 'submitted', 'submitted', false],
    ['finished', 'submitted', 'attention', false],
    ['attention', 'formed', 'finished', false],
  ] as const)('a %s batch moved from %s to %s: %s', async (state, from, to, moves) => {
    const { batchNo } = await payout('requested', undefined, state);
    expect(await store().moveBatch(batchNo, from, to)).toBe(moves);
    const { rows } = await pool.query('select state from payout_batches where batch_no = $1', [batchNo]);
    expect(rows[0].state).toBe(moves ? to : state);
  });
});

describe("a payout's state: rewards' alone, moved only as the ledger moves its money", () => {
  const setStates = readFileSync(join(import.meta.dirname, '../rewards/sql/set-payout-states.sql'), 'utf8');
  const cases: [string, string, boolean][] = [
    ['requested', 'paid', true],
    ['requested', 'released', true],
    ['paid', 'reversed', true],
    ['released', 'paid', false],
    ['paid', 'released', false],
    ['reversed', 'paid', false],
    ['requested', 'reversed', false],
    ['paid', 'requested', false],
  ];
  it.each(cases)('set-payout-states.sql: a %s payout moved to %s: %s', async (state, to, moves) => {
    const { id } = await payout(state);
    const moved = await pool.query(setStates, [[id], [to], '{}']);
    expect(moved.rowCount).toBe(moves ? 1 : 0);
    const { rows } = await pool.query('select state from payouts where payout_id = $1', [id]);
    expect(rows[0].state).toBe(moves ? to : state);
  });

  it.each(cases)('the database itself: a %s payout updated to %s: %s', async (state, to, moves) => {
    const { id } = await payout(state);
    const update = pool.query('update payouts set state = $2 where payout_id = $1', [id, to]);
    if (moves) await update;
    else await expect(update).rejects.toMatchObject({ code: '23514', message: expect.stringMatching(/cannot move/) });
  });

  it('hands off again only the requests the payouts service has not taken up (rewards/sql/requested-payouts.sql)', async () => {
    const requested = readFileSync(join(import.meta.dirname, '../rewards/sql/requested-payouts.sql'), 'utf8');
    const { id: taken } = await payout('requested'); // with its transfer
    const lost = randomUUID(); // its hand-off was lost: no transfer
    await pool.query(
      "insert into payouts (payout_id, user_id, amount_fen, source, idempotency_key) values ($1, 'u1', 100, 'threshold', $2)",
      [lost, `key-${lost}`],
    );
    const ids = (await pool.query<{ payout_id: string }>(requested, [1_000])).rows.map((r) => r.payout_id);
    expect([ids.includes(lost), ids.includes(taken)]).toEqual([true, false]);
  });

  it('shows a requested payout as what the payouts service does with it (the payout_status view)', async () => {
    const { id } = await payout('requested');
    const status = async () =>
      (await pool.query('select state from payout_status where payout_id = $1', [id])).rows[0].state as string;
    const transfer = (state: string) =>
      pool.query('update payout_transfers set state = $2 where payout_id = $1', [id, state]);
    const seen: string[] = [];
    for (const state of ['queued', 'review', 'awaiting_name', 'batched', 'succeeded']) {
      await transfer(state);
      seen.push(await status());
    }
    await pool.query("update payouts set state = 'paid' where payout_id = $1", [id]);
    seen.push(await status());
    expect(seen).toEqual(['accepted', 'review', 'awaiting_name', 'batched', 'batched', 'paid']);
  });
});

describe("a campaign: its app is ingest's (campaigns), its advertiser rewards' (campaign_funding)", () => {
  const statement = (path: string) => readFileSync(join(import.meta.dirname, '..', path), 'utf8');
  const assign = statement('ingest/sql/assign-campaign.sql');
  const bind = statement('rewards/sql/bind-campaigns.sql');
  const view = statement('rewards/sql/campaign-view.sql');
  beforeAll(async () => {
    await pool.query("insert into apps (app_id) values ('app.c')");
    await pool.query("insert into advertisers (advertiser_id) values ('adv-a'), ('adv-b')");
  });
  const apps = async (id: string) =>
    (await pool.query('select app_id from campaign_apps where campaign_id = $1', [id])).rows;
  const advertisers = async (id: string) =>
    (await pool.query('select advertiser_id from campaign_advertisers where campaign_id = $1', [id])).rows;

  it.each([
    ['app first', ['assign', 'bind']],
    ['advertiser first', ['bind', 'assign']],
  ])('takes each side in either order (%s)', async (_name, order) => {
    const id = `camp-${randomUUID()}`;
    for (const step of order) {
      if (step === 'assign')
        expect((await pool.query(assign, [id, 'app.c', 'aa'])).rows).toEqual([
          { app_id: 'app.c', postback_secret: 'aa' },
        ]);
      else expect((await pool.query(bind, ['adv-a', [id]])).rows).toEqual([{ campaign_id: id }]);
    }
    expect([await apps(id), await advertisers(id)]).toEqual([[{ app_id: 'app.c' }], [{ advertiser_id: 'adv-a' }]]);
    expect((await pool.query(bind, ['adv-b', [id]])).rows).toEqual([]); // another advertiser's: refused
    expect(await advertisers(id)).toEqual([{ advertiser_id: 'adv-a' }]);
  });

  it('shows a campaign only an app has, without an advertiser, and none that neither side knows', async () => {
    const id = `camp-${randomUUID()}`;
    await pool.query(assign, [id, 'app.c', 'aa']);
    expect((await pool.query(view, [id])).rows).toEqual([{ campaign_id: id, advertiser_id: null, ends_at: null }]);
    expect((await pool.query(view, [`camp-${randomUUID()}`])).rows).toEqual([]);
  });

  it('refuses a top-up of a campaign no advertiser pays for (the foreign key)', async () => {
    const id = `camp-${randomUUID()}`;
    await pool.query(assign, [id, 'app.c', 'aa']);
    await expect(
      pool.query(
        `insert into topup_orders (out_trade_no, advertiser_id, campaign_id, idempotency_key, amount_fen, currency, api,
          trade_type, description, expires_at, state) values ($1, 'adv-a', $2, 'k', 100, 'CNY', 'v3', 'NATIVE', 'd', now(), 'created')`,
        [randomBytes(16).toString('hex'), id],
      ),
    ).rejects.toMatchObject({ code: '23503' });
  });
});
