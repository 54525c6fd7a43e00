// Payouts end to end on the real stack: earnings cross the threshold, rewards holds the money and
// requests a payout, the payouts service batches and pays it through the sandbox (its own process),
// and the ledger settles or releases it. The audit passes after every scenario.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { signV2, toV2Xml, type V2SignType } from '../payouts/wechat/v2-protocol.js';
import { encryptResource } from '../payouts/wechat/v3-crypto.js';
import { sandboxMerchant } from '../payouts/sandbox/defaults.js';
import { loadSandboxKeys } from '../payouts/sandbox/server.js';
import { signedHeaders } from '../payouts/sandbox/v3-auth.js';
import { signUserToken } from '../common/auth.js';
import { audit } from '../rewards/audit.js';
import { migrateClickhouse } from '../schemas/migrate.js';
import { person, TEST_APP } from '../rewards/test-support.js';
import { createPayoutsWorld, type PayoutsWorld } from './payouts-world.js';
import { createTestClickhouse, env, silentLog } from './support.js';

/**
 * A world on v3 batches unless a test names its product: these tests were written for the flow every
 * product shares; transfer bills' own life (confirmation, expiry, cancel) is test/payouts-bills.int.test.ts.
 */
const batchWorld = (opts: Parameters<typeof createPayoutsWorld>[0] = {}) =>
  createPayoutsWorld({ ...opts, payoutsEnv: { PAYOUTS_API: 'v3_batch', ...opts.payoutsEnv } });

let w: PayoutsWorld | undefined;
afterEach(async () => {
  await w?.stop();
  w = undefined;
});
/** Runs per crash point; PAYOUT_CRASH_RUNS=20 for the long mode. */
const CRASH_RUNS = Number(process.env.PAYOUT_CRASH_RUNS ?? 3);
const users = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}-${Date.now()}`);

async function balance(userId: string) {
  return (await w!.world.api(w!.rewards.port, 'GET', `/v1/users/${userId}/balance`, { token: w!.world.token(userId) }))
    .body;
}

/** A v2 notification naming `fields`, signed with `type` (and `key`) as WeChat would; the reply's return_code. */
async function notifyV2(
  port: number,
  fields: Record<string, string>,
  type: V2SignType = 'HMAC-SHA256',
  key: string = sandboxMerchant.apiV2Key,
) {
  const reply = await fetch(`http://127.0.0.1:${port}/v1/wechat/notify/v2`, {
    method: 'POST',
    body: toV2Xml({ ...fields, sign: signV2(fields, key, type) }),
  }).then((r) => r.text());
  return /<return_code><!\[CDATA\[(\w+)]]>/.exec(reply)?.[1];
}
const v2Fields = (ref: string, nonce: string) => ({
  appid: 'wxtestapp',
  mch_id: sandboxMerchant.mchid,
  nonce_str: nonce,
  result_code: 'SUCCESS',
  partner_trade_no: ref,
  sign_type: 'HMAC-SHA256',
});

/** A v3 callback carrying `resource`, encrypted and signed with the sandbox's platform key, as WeChat would; the reply's status. */
async function notifyV3(port: number, resource: Record<string, unknown>) {
  const keys = loadSandboxKeys(sandboxMerchant.certDir, sandboxMerchant.mchid, 'platform');
  const body = JSON.stringify({
    id: randomUUID(),
    create_time: new Date().toISOString(),
    event_type: 'MCHTRANSFER.BATCH.FINISHED',
    resource_type: 'encrypt-resource',
    summary: 'finished',
    resource: encryptResource(sandboxMerchant.apiV3Key, JSON.stringify(resource), 'mch_payment', 'mch_payment'),
  });
  const headers = signedHeaders(keys, undefined, body, Math.floor(Date.now() / 1000));
  return (
    await fetch(`http://127.0.0.1:${port}/v1/wechat/notify`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body,
    })
  ).status;
}

/** The payouts the audit's stale-hold check reports when money held longer than `ageMs` counts as stale. */
async function staleHolds(ageMs: number): Promise<string[]> {
  const client = await w!.world.pool.connect();
  try {
    const check = (await audit(client, { staleHoldMs: ageMs })).find((r) => r.name === 'stale-holds');
    return (check?.sample ?? [{ id: 'no stale-holds check' }]).map((r) => String(r.id)).sort();
  } finally {
    client.release();
  }
}

describe('payouts through v3 batch transfers', () => {
  it("pays linked users who cross the threshold in one batch, settles them, and shows each payout's history", async () => {
    w = await batchWorld();
    const payouts = await w.start();
    const list = users('pay', 5);
    await w.earn(list, 150);
    expect(await w.settled(5)).toEqual({ paid: 5 });
    expect(await balance(list[0]!)).toEqual({ available: 0, held: 0, paid_out: 150 });
    const sandbox = await w.sandboxState();
    expect(sandbox.paidFen).toBe(750);
    expect(sandbox.calls['POST /v3/transfer/batches']).toBe(1);
    const { rows } = await w.world.pool.query<{ payout_id: string; user_id: string }>(
      'select payout_id, user_id from payouts limit 1',
    );
    const [{ payout_id: id, user_id: owner }] = rows as [{ payout_id: string; user_id: string }];
    const ownerId = list.find((u) => person(u) === owner)!; // the payout's person is (TEST_APP, that user)
    const mine = await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`, { token: w.world.token(ownerId) });
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({
      state: 'paid',
      amount_fen: 150,
      api: 'v3_batch',
      app_id: TEST_APP,
      user_id: ownerId,
    });
    // The same user id in another app is another person: as for a stranger, the payout does not exist.
    expect(
      (await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`, { token: w.world.token(ownerId, 'other.app') }))
        .status,
    ).toBe(404);
    expect((mine.body.history as { state: string }[]).map((h) => h.state)).toEqual([
      'requested',
      'accepted',
      'batched',
      'provider_succeeded',
      'paid',
    ]);
    expect(
      (await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`, { token: w.world.token('someone-else') })).status,
    ).toBe(404);
    expect(
      (await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`, { token: w.world.config.REWARDS_OPERATOR_TOKEN }))
        .status,
    ).toBe(200);
    expect((await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`)).status).toBe(401);
    expect(await w.world.audit()).toEqual([]);
  });

  it('releases a transfer the provider fails, with its reason, and pays the rest (platform certificates downloaded at start)', async () => {
    w = await batchWorld({ payoutsEnv: { WECHATPAY_PLATFORM_CERT_FILES: '' } });
    await w.start();
    const [bad, ...good] = users('fail', 3);
    await w.faults({ failOpenids: { [w.openid(`wx-${bad}`)]: 'ACCOUNT_FROZEN' } });
    await w.earn([bad!, ...good], 120);
    expect(await w.settled(3)).toEqual({ paid: 2, released: 1 });
    expect(await balance(bad!)).toEqual({ available: 120, held: 0, paid_out: 0 });
    const { rows } = await w.world.pool.query('select fail_reason from payout_transfers where state = $1', ['failed']);
    expect(rows).toEqual([{ fail_reason: 'ACCOUNT_FROZEN' }]);
    expect(await w.world.audit()).toEqual([]);
  });

  it('never pays twice when the provider did the work but answered SYSTEM_ERROR or nothing, or refused for a while', async () => {
    w = await batchWorld({ payoutsEnv: { WECHATPAY_TIMEOUT_MS: '500' } });
    await w.faults({ systemErrorAfterWork: 1, timeoutAfterWork: 1, frequencyLimited: 1, notEnough: 1 });
    await w.start();
    const list = users('unknown', 4);
    await w.earn(list, 110);
    expect(await w.settled(4, ['paid'], 90_000)).toEqual({ paid: 4 });
    expect((await w.sandboxState()).paidFen).toBe(440);
    expect(await w.world.audit()).toEqual([]);
  });

  // Paid once the user gives their real name (test/payouts-names.int.test.ts); here an operator rejects it.
  it('keeps a payout of 2,000 yuan without a real name waiting for one, the money held, until rejected', async () => {
    w = await batchWorld();
    const payouts = await w.start();
    const [big] = users('big', 1);
    await w.earn([big!], 200_000);
    await w.settled(1, ['awaiting_name']);
    expect(await balance(big!)).toEqual({ available: 0, held: 200_000, paid_out: 0 });
    const { rows } = await w.world.pool.query<{ payout_id: string }>('select payout_id from payouts');
    expect(await payouts.store.review(rows[0]!.payout_id, 'reject')).toBe('failed');
    expect(await w.settled(1, ['released'])).toEqual({ released: 1 });
    expect(await w.world.audit()).toEqual([]);
  });
});

describe('risk checks and the v2 callback', () => {
  it('holds a user the aggregator flagged, in ClickHouse or on their earning (before ClickHouse has the rows), and pays the others', async () => {
    const ch = await createTestClickhouse('payouts');
    try {
      await migrateClickhouse(
        { CLICKHOUSE_URL: env.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: ch.name },
        { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/clickhouse') },
      );
      w = await batchWorld({ payoutsEnv: { CLICKHOUSE_DATABASE: ch.name } });
      await w.start();
      const [inClickhouse, onEarning, clean] = users('fraud', 3);
      const now = new Date().toISOString().slice(0, 19).replace('T', ' ');
      await ch.client.insert({
        table: 'events',
        format: 'JSONEachRow',
        values: [
          {
            event_id: 'flood-1',
            type: 'CLICK',
            app_id: TEST_APP,
            user_id: inClickhouse,
            event_time: now,
            received_at: now,
            invalid_reason: 'click_flooding',
          },
          // The same user id flagged in another app says nothing about this app's user of that id.
          {
            event_id: 'flood-2',
            type: 'CLICK',
            app_id: 'other.app',
            user_id: clean,
            event_time: now,
            received_at: now,
            invalid_reason: 'click_flooding',
          },
        ],
      });
      await w.earn([inClickhouse!, onEarning!, clean!], 120, (u) => ({
        userFlags: u === onEarning ? ['click_injection'] : [],
      }));
      expect(await w.settled(3, ['paid', 'review'])).toEqual({ paid: 1, review: 2 });
      const { rows } = await w.world.pool.query(
        'select user_id, fail_reason from payout_transfers where state = $1 and user_id = any($2) order by user_id',
        ['review', [inClickhouse, onEarning, clean].map((u) => person(u!))],
      );
      expect(rows).toEqual(
        [inClickhouse, onEarning]
          .map((u) => ({ user_id: person(u!), fail_reason: 'fraud_signals' }))
          .sort((a, b) => a.user_id.localeCompare(b.user_id)),
      );
      expect(await w.world.audit()).toEqual([]);
    } finally {
      await ch.drop();
    }
  });

  it('answers a v2 notification signed as configured (HMAC-SHA256) SUCCESS, and refuses one signed with MD5 or another key', async () => {
    w = await batchWorld();
    const payouts = await w.start();
    const fields = {
      appid: 'wxtestapp',
      mch_id: sandboxMerchant.mchid,
      nonce_str: 'n1',
      result_code: 'SUCCESS',
      out_trade_no: 'T1',
    };
    expect(await notifyV2(payouts.port, { ...fields, sign_type: 'HMAC-SHA256' })).toBe('SUCCESS');
    expect(await notifyV2(payouts.port, fields)).toBe('SUCCESS');
    // MD5 with the right key is a downgrade: refused, whether or not the message names its sign_type.
    expect(await notifyV2(payouts.port, fields, 'MD5')).toBe('FAIL');
    expect(await notifyV2(payouts.port, { ...fields, sign_type: 'MD5' }, 'MD5')).toBe('FAIL');
    expect(await notifyV2(payouts.port, fields, 'HMAC-SHA256', 'another-key-0123456789abcdefghij')).toBe('FAIL');
    expect(await payouts.metrics.registry.getSingleMetricAsString('payouts_callbacks_total')).toMatch(
      /result="rejected"} 3/,
    );
  });

  it('queues one query for repeated v2 notifications of one reference, whatever their nonces', async () => {
    w = await batchWorld({ payoutsEnv: { PAYOUTS_API: 'v2_transfer' } });
    const payouts = await w.start();
    await w.earn(users('repeat', 1), 130);
    await w.settled(1, ['paid']);
    const { rows } = await w.world.pool.query<{ request_no: string }>('select request_no from payout_transfers');
    const queries = async () => (await w!.sandboxState()).calls['POST /mmpaymkttransfers/gettransferinfo'] ?? 0;
    expect(await queries()).toBe(0);
    for (let i = 0; i < 8; i++)
      expect(await notifyV2(payouts.port, v2Fields(rows[0]!.request_no, `nonce-${i}`))).toBe('SUCCESS');
    for (let i = 0; i < 100 && (await queries()) === 0; i++) await sleep(100);
    await sleep(1_500); // time for any further queries to show up
    expect(await queries()).toBe(1);
  });
});

describe('a callback for a batch never sent', () => {
  // A worker SIGKILLed right after forming leaves its batch formed with no submit job. The sweep would
  // resubmit it only after 2 × PAYOUTS_SWEEP_MS (here 20 minutes), so the callback is all that acts.
  const notify = {
    'a v2 notification naming a transfer': (port: number, t: { request_no: string }) =>
      notifyV2(port, v2Fields(t.request_no, 'n1')).then((c) => expect(c).toBe('SUCCESS')),
    'a v3 notification naming a transfer': (port: number, t: { request_no: string }) =>
      notifyV3(port, { out_bill_no: t.request_no, state: 'SUCCESS' }).then((s) => expect(s).toBe(204)),
    'a v3 notification naming the batch': (port: number, t: { batch_no: string }) =>
      notifyV3(port, { out_batch_no: t.batch_no, batch_status: 'FINISHED' }).then((s) => expect(s).toBe(204)),
  } as const;
  it.each([
    ['v3_batch', 'a v2 notification naming a transfer'],
    ['v3_batch', 'a v3 notification naming a transfer'],
    ['v3_batch', 'a v3 notification naming the batch'],
    ['v2_transfer', 'a v2 notification naming a transfer'],
    ['v3_bill', 'a v3 notification naming a transfer'],
  ] as const)(
    '%s: %s sends the formed batch and pays it, never strands it; the stale-hold check flags the money while it waits',
    { timeout: 90_000 },
    async (api, kind) => {
      w = await batchWorld({ payoutsEnv: { PAYOUTS_API: api, PAYOUTS_SWEEP_MS: '600000' } });
      const crashing = w.spawn({ CRASH_AT: 'formed' });
      await w.earn(users(`unsent-${api}`, 2), 120);
      expect(await crashing.exited).toBe('SIGKILL');
      const { rows } = await w.world.pool.query<{
        payout_id: string;
        request_no: string;
        batch_no: string;
        state: string;
      }>(
        'select t.payout_id, t.request_no, t.batch_no, b.state from payout_transfers t join payout_batches b using (batch_no) order by t.request_no',
      );
      expect(rows.map((r) => r.state)).toEqual(['formed', 'formed']);
      expect(await staleHolds(1)).toEqual(rows.map((r) => r.payout_id).sort());
      expect(await w.world.audit()).toEqual([]); // a fresh hold is not stale at the default age

      const payouts = await w.start();
      await notify[kind](payouts.port, rows[0]!);
      expect(await w.settled(2, ['paid'], 30_000)).toEqual({ paid: 2 });
      expect((await w.sandboxState()).paidFen).toBe(240);
      const { rows: batches } = await w.world.pool.query('select state from payout_batches');
      expect(batches).toEqual([{ state: 'finished' }]);
      expect(await staleHolds(1)).toEqual([]);
      expect(await w.world.audit()).toEqual([]);
    },
  );
});

describe.each(['v2_transfer', 'v3_bill'] as const)('payouts through %s', (api) => {
  it('pays and settles, and releases a failed transfer', async () => {
    w = await batchWorld({ payoutsEnv: { PAYOUTS_API: api } });
    await w.start();
    const [bad, ...good] = users(api, 3);
    await w.faults({ failOpenids: { [w.openid(`wx-${bad}`)]: 'NAME_MISMATCH' } });
    await w.earn([bad!, ...good], 130);
    expect(await w.settled(3)).toEqual({ paid: 2, released: 1 });
    expect((await w.sandboxState()).paidFen).toBe(260);
    expect(await w.world.audit()).toEqual([]);
  });
});

describe('a v2 transfer WeChat refuses alone', () => {
  it('holds it in review (query WeChat first, the note says), pays the others, and a reject releases it', async () => {
    w = await batchWorld({ payoutsEnv: { PAYOUTS_API: 'v2_transfer' } });
    const payouts = await w.start();
    const [bad, ...good] = users('v2-poison', 3);
    await w.faults({ refuseOpenids: { [w.openid(`wx-${bad}`)]: 'FATAL_ERROR' } });
    await w.earn([bad!, ...good], 130);
    expect(await w.settled(2, ['paid'])).toEqual({ paid: 2, review: 1 });
    const {
      rows: [held],
    } = await w.world.pool.query<{ payout_id: string }>('select payout_id from payout_transfers where user_id = $1', [
      person(bad!),
    ]);
    const { rows: events } = await w.world.pool.query<{ detail: Record<string, unknown> }>(
      "select detail from payout_transfer_events where payout_id = $1 and state = 'review'",
      [held!.payout_id],
    );
    expect(events).toEqual([
      {
        detail: expect.objectContaining({
          reason: 'FATAL_ERROR',
          note: expect.stringContaining('query WeChat for it before rejecting'),
        }),
      },
    ]);
    for (
      let i = 0;
      i < 50 && (await w.world.pool.query("select 1 from payout_batches where state <> 'finished'")).rowCount! > 0;
      i++
    )
      await sleep(100);
    expect((await w.world.pool.query("select 1 from payout_batches where state <> 'finished'")).rowCount).toBe(0);
    expect(await payouts.metrics.registry.getSingleMetricAsString('payouts_batches_needing_attention_total')).toMatch(
      / 0$/m,
    );
    expect(await w.cli(['review', 'reject', held!.payout_id])).toMatchObject({ code: 0 });
    expect(await w.settled(3, ['paid', 'released'])).toEqual({ paid: 2, released: 1 });
    expect(await balance(bad!)).toEqual({ available: 130, held: 0, paid_out: 0 });
    expect((await w.sandboxState()).paidFen).toBe(260);
    expect(await w.world.audit()).toEqual([]);
  });
});

describe('callbacks, reconciliation and crashes', () => {
  const today = () => new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);

  it('applies each batch once through duplicate, reordered, forged and SIGNTEST callbacks', async () => {
    w = await batchWorld({ payoutsEnv: { PAYOUTS_POLL_MS: '60000' } });
    await w.faults({ duplicateCallbacks: true, reorderCallbacks: true, badCallbackSignature: 1, signtestProbe: true });
    const payouts = await w.start();
    await w.earn(users('cb', 3), 140);
    expect(await w.settled(3, ['paid'], 30_000)).toEqual({ paid: 3 });
    expect((await w.sandboxState()).paidFen).toBe(420);
    const metrics = await payouts.metrics.registry.getSingleMetricAsString('payouts_callbacks_total');
    expect(metrics).toMatch(/result="rejected"} [2-9]/);
    expect(metrics).toMatch(/result="accepted"} [2-9]/);
    expect(await w.world.audit()).toEqual([]);
  });

  it('reverses a payout the provider failed after paying, once reconciliation reads the bill', async () => {
    w = await batchWorld();
    await w.faults({ lateFail: 1, billsAtOnce: true });
    const payouts = await w.start();
    const list = users('late', 2);
    await w.earn(list, 160);
    expect(await w.settled(2, ['paid'])).toEqual({ paid: 2 });
    await new Promise((r) => setTimeout(r, 1_200)); // the sandbox fails the detail 25 steps (of 40 ms) later
    const run = await payouts.reconciler.run(today());
    expect(run).toMatchObject({ billRows: 3, matched: 1, reversed: 1, unexplained: [] });
    expect(await w.settled(1, ['reversed'])).toEqual({ paid: 1, reversed: 1 });
    const balances = await Promise.all(list.map(balance));
    expect(balances).toContainEqual({ available: 160, held: 0, paid_out: 0 });
    expect(await w.world.audit()).toEqual([]);
    expect(await payouts.reconciler.run(today())).toMatchObject({ matched: 2, reversed: 0, unexplained: [] });
  });

  it('reports a payment the ledger does not know, and the audit fails until it is explained', async () => {
    w = await batchWorld();
    await w.faults({ billsAtOnce: true });
    const payouts = await w.start();
    await w.earn(users('known', 1), 100);
    await w.settled(1, ['paid']);
    // Someone pays from the merchant account outside this system.
    const { createV2Client } = await import('../payouts/wechat/v2-client.js');
    const { createTransport } = await import('../payouts/wechat/transport.js');
    const { sandboxCredentials } = await import('../payouts/sandbox/test-clients.js');
    const { sandboxMerchant } = await import('../payouts/sandbox/defaults.js');
    const transport = createTransport({
      baseUrl: `https://127.0.0.1:${w.world.sandbox.tlsPort}`,
      timeoutMs: 2_000,
      tls: sandboxCredentials().tls,
    });
    const v2 = createV2Client(
      {
        mchid: sandboxMerchant.mchid,
        appid: 'wxtestapp',
        apiKey: sandboxMerchant.apiV2Key,
        signType: 'MD5',
        transferSignType: 'MD5',
      },
      { transport },
    );
    expect(
      await v2.transfer({
        partner_trade_no: 'OUTSIDE1',
        openid: 'oStranger',
        amount: 500,
        desc: 'x',
        check_name: 'NO_CHECK',
        spbill_create_ip: '127.0.0.1',
      }),
    ).toMatchObject({ ok: true });
    transport.close();
    const run = await payouts.reconciler.run(today());
    expect(run.unexplained).toEqual([
      { requestNo: 'OUTSIDE1', kind: 'unknown_to_ledger', detail: expect.stringContaining('500 fen') },
    ]);
    expect((await w.world.audit()).map((r) => r.name)).toEqual(['reconciliation-explained']);
  });

  it.each(['formed', 'called', 'recorded'] as const)(
    'pays exactly once when the worker is SIGKILLed right after the batch is %s',
    { timeout: 60_000 + CRASH_RUNS * 30_000 },
    async (step) => {
      w = await batchWorld();
      let expectedFen = 0;
      let total = 0;
      for (let run = 0; run < CRASH_RUNS; run++) {
        const crashing = w.spawn({ CRASH_AT: step });
        const list = users(`crash-${step}-${run}`, 3);
        await w.earn(list, 100 + run);
        expectedFen += 3 * (100 + run);
        total += 3;
        expect(await crashing.exited).toBe('SIGKILL');
        const payouts = await w.start();
        expect(await w.settled(total, ['paid'], 60_000)).toEqual({ paid: total });
        await payouts.stop();
      }
      expect((await w.sandboxState()).paidFen).toBe(expectedFen);
      expect(await w.world.audit()).toEqual([]);
    },
  );
});

describe('payouts API edges (issue 21)', () => {
  it('serves /metrics on the ops listener only, answers a malformed payout id with 400, and refuses a forged token', async () => {
    w = await batchWorld();
    const payouts = await w.start();
    const get = (port: number, path: string, token?: string) => w!.world.api(port, 'GET', path, { token });
    const operator = w.world.config.REWARDS_OPERATOR_TOKEN;
    expect((await fetch(`http://127.0.0.1:${payouts.port}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${payouts.port}/healthz`)).status).toBe(200);
    const metrics = await fetch(`http://127.0.0.1:${payouts.opsPort}/metrics`);
    expect([metrics.status, await metrics.text()]).toEqual([200, expect.stringContaining('payouts_callbacks_total')]);

    for (const id of ['%00', 'a%00b', '%ED%A0%80', 'not-a-uuid', `${randomUUID()}x`]) {
      const res = await get(payouts.port, `/v1/payouts/${id}`, operator);
      expect({ id, status: res.status, error: res.body.error }).toEqual({
        id,
        status: 400,
        error: 'invalid_payout_id',
      });
    }
    expect((await get(payouts.port, `/v1/payouts/${randomUUID()}`, operator)).status).toBe(404);
    const alg = Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url');
    const forged = `${alg}.${w.world.token('u1').split('.')[1]}.`;
    expect((await get(payouts.port, `/v1/payouts/${randomUUID()}`, forged)).body.error).toBe('invalid_token');
  });

  it('accepts a user token only under a live secret of its own app, and refuses a revoked one without restart', async () => {
    w = await batchWorld();
    const payouts = await w.start({ REWARDS_TOKEN_SECRETS_REFRESH_MS: '60000' }); // NOTIFY, not the timer, must carry the revoke
    const db = w.world.pool;
    await db.query("insert into apps (app_id) values ('app.a'), ('app.b') on conflict do nothing");
    const [a, b] = ['a'.repeat(43), 'b'.repeat(43)] as const;
    const { rows } = await db.query<{ secret_id: string }>(
      "insert into app_token_secrets (app_id, secret) values ('app.a', $1), ('app.b', $2) returning secret_id::text",
      [a, b],
    );
    const mint = (secret: string, appId: string) =>
      signUserToken(secret, { appId, userId: 'u1' }, { ttlS: 600, nowMs: Date.now() });
    // 404 (no such payout) means the token was accepted; 401 that it was refused.
    const status = async (token: string) =>
      (await w!.world.api(payouts.port, 'GET', `/v1/payouts/${randomUUID()}`, { token })).status;
    const until = async (token: string, want: number) => {
      for (const deadline = Date.now() + 5_000; Date.now() < deadline; await sleep(100))
        if ((await status(token)) === want) break;
      return status(token);
    };
    expect(await until(mint(b, 'app.b'), 404)).toBe(404); // the insert's NOTIFY reached the running service
    expect(await status(mint(a, 'app.b'))).toBe(401); // app A's secret mints nothing for app B's user
    expect(await status(mint(w.world.config.REWARDS_TOKEN_SECRET, 'app.b'))).toBe(404); // the platform's key, for every app
    await db.query('update app_token_secrets set revoked_at = now() where secret_id = $1', [rows[1]!.secret_id]);
    expect(await until(mint(b, 'app.b'), 401)).toBe(401);
    expect(await status(mint(a, 'app.a'))).toBe(404);
  });
});
