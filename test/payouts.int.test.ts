// Payouts end to end on the real stack: earnings cross the threshold, rewards holds the money and
// requests a payout, the payouts service batches and pays it through the sandbox (its own process),
// and the ledger settles or releases it. The audit passes after every scenario.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signV2, toV2Xml } from '../payouts/wechat/v2-protocol.js';
import { sandboxMerchant } from '../payouts/sandbox/defaults.js';
import { migrateClickhouse } from '../schemas/migrate.js';
import { createPayoutsWorld, type PayoutsWorld } from './payouts-world.js';
import { createTestClickhouse, env, silentLog } from './support.js';

let w: PayoutsWorld | undefined;
afterEach(async () => {
  await w?.stop();
  w = undefined;
});
/** Runs per crash point; PAYOUT_CRASH_RUNS=20 for the long mode. */
const CRASH_RUNS = Number(process.env.PAYOUT_CRASH_RUNS ?? 3);
const users = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}-${Date.now()}`);

async function balance(userId: string) {
  return (await w!.world.api(w!.rewards.port, 'GET', `/v1/users/${userId}/balance`, { token: w!.world.token(userId) })).body;
}

describe('payouts through v3 batch transfers', () => {
  it('pays linked users who cross the threshold in one batch, settles them, and shows each payout\'s history', async () => {
    w = await createPayoutsWorld();
    const payouts = await w.start();
    const list = users('pay', 5);
    await w.earn(list, 150);
    expect(await w.settled(5)).toEqual({ paid: 5 });
    expect(await balance(list[0]!)).toEqual({ available: 0, held: 0, paid_out: 150 });
    const sandbox = await w.sandboxState();
    expect(sandbox.paidFen).toBe(750);
    expect(sandbox.calls['POST /v3/transfer/batches']).toBe(1);
    const { rows } = await w.world.pool.query<{ payout_id: string; user_id: string }>('select payout_id, user_id from payouts limit 1');
    const [{ payout_id: id, user_id: owner }] = rows as [{ payout_id: string; user_id: string }];
    const mine = await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`, { token: w.world.token(owner) });
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ state: 'paid', amount_fen: 150, api: 'v3_batch' });
    expect((mine.body.history as { state: string }[]).map((h) => h.state)).toEqual(['requested', 'accepted', 'batched', 'provider_succeeded', 'paid']);
    expect((await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`, { token: w.world.token('someone-else') })).status).toBe(404);
    expect((await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`, { token: w.world.config.REWARDS_OPERATOR_TOKEN })).status).toBe(200);
    expect((await w.world.api(payouts.port, 'GET', `/v1/payouts/${id}`)).status).toBe(401);
    expect(await w.world.audit()).toEqual([]);
  });

  it('releases a transfer the provider fails, with its reason, and pays the rest (platform certificates downloaded at start)', async () => {
    w = await createPayoutsWorld({ payoutsEnv: { WECHATPAY_PLATFORM_CERT_FILES: '' } });
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
    w = await createPayoutsWorld({ payoutsEnv: { WECHATPAY_TIMEOUT_MS: '500' } });
    await w.faults({ systemErrorAfterWork: 1, timeoutAfterWork: 1, frequencyLimited: 1, notEnough: 1 });
    await w.start();
    const list = users('unknown', 4);
    await w.earn(list, 110);
    expect(await w.settled(4, ['paid'], 90_000)).toEqual({ paid: 4 });
    expect((await w.sandboxState()).paidFen).toBe(440);
    expect(await w.world.audit()).toEqual([]);
  });

  it('holds a payout at 2,000 yuan for review, keeping the money held', async () => {
    w = await createPayoutsWorld();
    const payouts = await w.start();
    const [big] = users('big', 1);
    await w.earn([big!], 200_000);
    await w.settled(1, ['review']);
    expect(await balance(big!)).toEqual({ available: 0, held: 200_000, paid_out: 0 });
    const { rows } = await w.world.pool.query<{ payout_id: string }>('select payout_id from payouts');
    expect(await payouts.store.review(rows[0]!.payout_id, 'reject')).toBe('failed');
    expect(await w.settled(1, ['released'])).toEqual({ released: 1 });
    expect(await w.world.audit()).toEqual([]);
  });
});

describe('risk checks and the v2 callback', () => {
  it('holds a user the aggregator flagged for invalid traffic, and pays the others', async () => {
    const ch = await createTestClickhouse('payouts');
    try {
      await migrateClickhouse({ CLICKHOUSE_URL: env.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: ch.name }, { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/clickhouse') });
      w = await createPayoutsWorld({ payoutsEnv: { CLICKHOUSE_DATABASE: ch.name } });
      await w.start();
      const [flagged, clean] = users('fraud', 2);
      const now = new Date().toISOString().slice(0, 19).replace('T', ' ');
      await ch.client.insert({ table: 'events', format: 'JSONEachRow', values: [{ event_id: 'flood-1', type: 'CLICK', user_id: flagged, event_time: now, received_at: now, invalid_reason: 'click_flooding' }] });
      await w.earn([flagged!, clean!], 120);
      await w.settled(1, ['review']);
      expect(await w.settled(1, ['paid'])).toEqual({ paid: 1, review: 1 });
      const { rows } = await w.world.pool.query('select user_id, fail_reason from payout_transfers where state = $1', ['review']);
      expect(rows).toEqual([{ user_id: flagged, fail_reason: 'fraud_signals' }]);
      expect(await w.world.audit()).toEqual([]);
    } finally {
      await ch.drop();
    }
  });

  it('answers a signed v2 notification SUCCESS and a forged one FAIL', async () => {
    w = await createPayoutsWorld();
    const payouts = await w.start();
    const post = (fields: Record<string, string>) => fetch(`http://127.0.0.1:${payouts.port}/v1/wechat/notify/v2`, { method: 'POST', body: toV2Xml(fields) }).then((r) => r.text());
    const fields = { appid: 'wxtestapp', mch_id: sandboxMerchant.mchid, nonce_str: 'n1', result_code: 'SUCCESS', out_trade_no: 'T1' };
    expect(await post({ ...fields, sign: signV2(fields, sandboxMerchant.apiV2Key, 'MD5') })).toContain('<return_code><![CDATA[SUCCESS]]></return_code>');
    expect(await post({ ...fields, sign: signV2(fields, 'another-key-0123456789abcdefghij', 'MD5') })).toContain('<return_code><![CDATA[FAIL]]></return_code>');
  });
});

describe.each(['v2_transfer', 'v3_bill'] as const)('payouts through %s', (api) => {
  it('pays and settles, and releases a failed transfer', async () => {
    w = await createPayoutsWorld({ payoutsEnv: { PAYOUTS_API: api } });
    await w.start();
    const [bad, ...good] = users(api, 3);
    await w.faults({ failOpenids: { [w.openid(`wx-${bad}`)]: 'NAME_MISMATCH' } });
    await w.earn([bad!, ...good], 130);
    expect(await w.settled(3)).toEqual({ paid: 2, released: 1 });
    expect((await w.sandboxState()).paidFen).toBe(260);
    expect(await w.world.audit()).toEqual([]);
  });
});

describe('callbacks, reconciliation and crashes', () => {
  const today = () => new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);

  it('applies each batch once through duplicate, reordered, forged and SIGNTEST callbacks', async () => {
    w = await createPayoutsWorld({ payoutsEnv: { PAYOUTS_POLL_MS: '60000' } });
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
    w = await createPayoutsWorld();
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
    w = await createPayoutsWorld();
    await w.faults({ billsAtOnce: true });
    const payouts = await w.start();
    await w.earn(users('known', 1), 100);
    await w.settled(1, ['paid']);
    // Someone pays from the merchant account outside this system.
    const { createV2Client } = await import('../payouts/wechat/v2-client.js');
    const { createTransport } = await import('../payouts/wechat/transport.js');
    const { sandboxCredentials } = await import('../payouts/sandbox/test-clients.js');
    const { sandboxMerchant } = await import('../payouts/sandbox/defaults.js');
    const transport = createTransport({ baseUrl: `https://127.0.0.1:${w.world.sandbox.tlsPort}`, timeoutMs: 2_000, tls: sandboxCredentials().tls });
    const v2 = createV2Client({ mchid: sandboxMerchant.mchid, appid: 'wxtestapp', apiKey: sandboxMerchant.apiV2Key, signType: 'MD5' }, { transport });
    expect(await v2.transfer({ partner_trade_no: 'OUTSIDE1', openid: 'oStranger', amount: 500, desc: 'x', check_name: 'NO_CHECK', spbill_create_ip: '127.0.0.1' })).toMatchObject({ ok: true });
    transport.close();
    const run = await payouts.reconciler.run(today());
    expect(run.unexplained).toEqual([{ requestNo: 'OUTSIDE1', kind: 'unknown_to_ledger', detail: expect.stringContaining('500 fen') }]);
    expect((await w.world.audit()).map((r) => r.name)).toEqual(['reconciliation-explained']);
  });

  it.each(['formed', 'called', 'recorded'] as const)('pays exactly once when the worker is SIGKILLed right after the batch is %s', { timeout: 60_000 + CRASH_RUNS * 30_000 }, async (step) => {
    w = await createPayoutsWorld();
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
  });
});
