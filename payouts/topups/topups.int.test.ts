// Top-ups end to end against real Postgres and Redis and the project's WeChat Pay sandbox (in this
// process): an advertiser creates an order through the API, the sandbox's payer pays it, its
// notification and queries are applied once, and the payment becomes one credit job for rewards;
// orders expire and close, a payment after close goes to a person, campaign refunds are split and
// refunded, and each outcome becomes its job. Notifications reach the service through a gate the test
// can hold, so "query before notification" and "notification before query" are both played.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signAdvertiserToken } from '../../common/auth.js';
import { loadConfig } from '../../common/config.js';
import { stopAll } from '../../common/shutdown.js';
import { fundingOutcomes, refundRequests, type FundingOutcomeJob } from '../../schemas/queues.js';
import { migratePostgres } from '../../schemas/migrate.js';
import { startGate } from '../../test/notify-gate.js';
import {
  createTestPostgres,
  deleteRedisPrefix,
  env as stackEnv,
  freePort,
  silentLog,
  uniqueName,
} from '../../test/support.js';
import { createPayouts } from '../app.js';
import { payoutsConfig } from '../config.js';
import { sandboxMerchant } from '../sandbox/defaults.js';
import { startTestSandbox } from '../sandbox/test-clients.js';

let db: Awaited<ReturnType<typeof createTestPostgres>>;
let pool: pg.Pool;
let sandbox: Awaited<ReturnType<typeof startTestSandbox>>;
let gate: Awaited<ReturnType<typeof startGate>>;
let payouts: Awaited<ReturnType<typeof createPayouts>>;
let redis: Redis;
let funding: Queue<FundingOutcomeJob>;
let refundQueue: Queue;
let secret: string;
const prefix = uniqueName('bull');
let port = 0;
let serviceEnv: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestPostgres('topups');
  await migratePostgres(
    { DATABASE_URL: db.url },
    { log: silentLog, dir: join(import.meta.dirname, '../../schemas/migrations/postgres') },
  );
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await pool.query("insert into advertisers (advertiser_id) values ('adv-1'), ('adv-2')");
  sandbox = await startTestSandbox({ stepMs: 50 });
  port = await freePort();
  gate = await startGate(() => port);
  const notifyUrl = `https://127.0.0.1:${gate.port}/v1/wechat/notify`;
  serviceEnv = {
    DATABASE_URL: db.url,
    LOG_LEVEL: 'silent',
    PAYOUTS_PORT: String(port),
    PAYOUTS_OPS_PORT: '0',
    PAYOUTS_QUEUE_PREFIX: prefix,
    WECHATPAY_BASE_URL: `https://127.0.0.1:${sandbox.sandbox.tlsPort}`,
    WECHATPAY_APPID: sandboxMerchant.appid,
    PAYOUTS_NOTIFY_URL: notifyUrl,
    PAYOUTS_TOPUP_NOTIFY_URL: notifyUrl,
    PAYOUTS_TOPUP_REFUND_NOTIFY_URL: notifyUrl,
    PAYOUTS_SWEEP_MS: '200',
    PAYOUTS_TOPUP_POLL_MS: '600000',
  };
  const config = loadConfig(payoutsConfig, { ...process.env, ...serviceEnv });
  secret = config.REWARDS_TOKEN_SECRET;
  payouts = await createPayouts(config, { log: silentLog });
  redis = new Redis(stackEnv.REDIS_URL, { maxRetriesPerRequest: null });
  funding = new Queue<FundingOutcomeJob>(fundingOutcomes.name, { connection: redis, prefix });
  refundQueue = new Queue(refundRequests.name, { connection: redis, prefix });
});
afterAll(async () => {
  await stopAll(payouts?.parts ?? [], silentLog);
  await funding?.close();
  await refundQueue?.close();
  await redis?.quit();
  await gate?.close();
  await sandbox?.stop();
  await deleteRedisPrefix(`${prefix}:`);
  await pool?.end();
  await db?.drop();
});
beforeEach(() => gate.release());

/** A fresh campaign of `advertiser` (each test its own, so lists and splits are its own). */
async function campaign(advertiser = 'adv-1') {
  const id = `c-${randomUUID().slice(0, 8)}`;
  await pool.query('insert into campaign_funding (campaign_id, advertiser_id) values ($1, $2)', [id, advertiser]);
  return id;
}
const token = (advertiser = 'adv-1') => signAdvertiserToken(secret, advertiser, { ttlS: 600, nowMs: Date.now() });
async function api(method: string, path: string, opts: { token?: string; body?: unknown; key?: string } = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${opts.token ?? token()}`,
      'content-type': 'application/json',
      ...(opts.key ? { 'idempotency-key': opts.key } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    text,
    body: (res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : {}) as Record<
      string,
      unknown
    >,
  };
}
/** A Native top-up of `campaignId` through the API: its order as answered (201). */
async function topup(campaignId: string, amountFen = 500) {
  const res = await api('POST', '/v1/topups', {
    key: randomUUID(),
    body: { campaign_id: campaignId, amount_fen: amountFen, method: 'native' },
  });
  expect(res.status).toBe(201);
  return res.body as { out_trade_no: string; code_url: string; state: string };
}
const admin = (path: string, body?: unknown) => sandbox.admin(path, body);
const order = async (no: string) =>
  (
    await pool.query<{
      state: string;
      provider_state: string | null;
      attention_reason: string | null;
      paid_fen: string | null;
      resolution: string | null;
    }>(
      'select state, provider_state, attention_reason, paid_fen, resolution from topup_orders where out_trade_no = $1',
      [no],
    )
  ).rows[0]!;
async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`waited for ${what}: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}
const stateOf = (no: string, state: string) =>
  until(
    `${no} ${state}`,
    () => order(no),
    (o) => o.state === state,
  );
/** The funding-outcomes jobs handed to rewards about `nos` (every state), as `<kind>-<no>`. */
async function jobs(...nos: string[]) {
  const all = await funding.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
  return all
    .filter((j) => nos.some((n) => j.id!.endsWith(`-${n}`)))
    .map((j) => j.id!)
    .sort();
}
/** The order seen by a query now (the sweep's look, made due at once). */
async function queryNow(no: string) {
  await pool.query('update topup_orders set next_poll_at = now() where out_trade_no = $1', [no]);
}
/** `npm run payouts -- <args>` against this service's database and sandbox: its exit code and output. */
const cli = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '../cli-main.ts'), ...args],
      { env: { ...process.env, ...serviceEnv, DEV_MODE: 'true' } },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
/** Puts an order a minute past its expiry, as if its two hours had gone by. */
const expire = (no: string) =>
  pool.query("update topup_orders set expires_at = now() - interval '61 seconds' where out_trade_no = $1", [no]);

describe('a top-up paid by its payer', () => {
  it('opens with a QR code, is paid, and is handed to rewards as one credit', async () => {
    const c = await campaign();
    const o = await topup(c);
    expect(o).toMatchObject({ state: 'open', code_url: expect.stringMatching(/^weixin:\/\/wxpay\/bizpayurl\?pr=/) });
    const qr = await api('GET', `/v1/topups/${o.out_trade_no}/qr.svg`);
    expect([qr.status, qr.type]).toEqual([200, 'image/svg+xml']);
    expect(qr.text).toMatch(/^<svg /);
    expect(await admin('pay', { code_url: o.code_url })).toMatchObject({
      out_trade_no: o.out_trade_no,
      trade_state: 'SUCCESS',
    });
    await stateOf(o.out_trade_no, 'paid');
    expect(await jobs(o.out_trade_no)).toEqual([`credit-${o.out_trade_no}`]);
    expect((await funding.getJob(`credit-${o.out_trade_no}`))!.data).toEqual({
      kind: 'credit',
      outTradeNo: o.out_trade_no,
    });
    expect((await api('GET', `/v1/topups/${o.out_trade_no}`)).body).toMatchObject({
      state: 'paid',
      paid_fen: 500,
      provider_state: 'SUCCESS',
      refunds: [],
    });
    expect((await api('GET', `/v1/topups/${o.out_trade_no}`, { token: token('adv-2') })).status).toBe(404);
    expect((await api('GET', `/v1/topups?campaign_id=${c}`)).body).toMatchObject({
      topups: [{ out_trade_no: o.out_trade_no, state: 'paid' }],
    });
  });

  it('credits once whatever the notifications: duplicated, and a query after them', async () => {
    await admin('faults', { duplicateCallbacks: true });
    try {
      const o = await topup(await campaign());
      const before = gate.answered.length;
      await admin('pay', { out_trade_no: o.out_trade_no });
      await stateOf(o.out_trade_no, 'paid');
      await until(
        'two notifications answered',
        async () => gate.answered.slice(before).filter((a) => a.status === 204).length,
        (n) => n >= 2,
      );
      // A query after them (a paid order is never due one: asked here as the sweep asks).
      const queried = await payouts.topups.payIn.query(o.out_trade_no);
      if (!queried.ok) throw new Error(queried.code);
      expect(await payouts.topups.flow.applyTrade(queried.value)).toEqual({ known: true, state: 'paid' });
      await sleep(300);
      expect(await jobs(o.out_trade_no)).toEqual([`credit-${o.out_trade_no}`]);
    } finally {
      await admin('faults', { duplicateCallbacks: false });
    }
  });

  it('credits once when the query finds the payment before its notification arrives', async () => {
    const o = await topup(await campaign());
    gate.hold();
    await admin('pay', { out_trade_no: o.out_trade_no });
    await queryNow(o.out_trade_no);
    await stateOf(o.out_trade_no, 'paid');
    const before = gate.answered.length;
    gate.release();
    await until(
      'the late notification answered',
      async () => gate.answered.slice(before),
      (a) => a.some((x) => x.status === 204),
    );
    expect(await jobs(o.out_trade_no)).toEqual([`credit-${o.out_trade_no}`]);
  });

  it('answers the same order for a repeated key, and 409 for another body under it', async () => {
    const c = await campaign();
    const key = randomUUID();
    const body = { campaign_id: c, amount_fen: 800, method: 'native' };
    const first = await api('POST', '/v1/topups', { key, body });
    const again = await api('POST', '/v1/topups', { key, body });
    expect(again).toMatchObject({
      status: 201,
      body: { out_trade_no: first.body.out_trade_no, code_url: first.body.code_url },
    });
    expect((await api('POST', '/v1/topups', { key, body: { ...body, amount_fen: 801 } })).body).toMatchObject({
      error: 'idempotency_key_reused',
    });
    expect((await api('POST', '/v1/topups', { key: randomUUID(), body, token: token('adv-2') })).status).toBe(404);
    expect((await admin('state')).calls).toMatchObject({ 'POST /v3/pay/transactions/native': expect.any(Number) });
  });

  it("sends a JSAPI order's wx.requestPayment parameters, which the payer pays with", async () => {
    const res = await api('POST', '/v1/topups', {
      key: randomUUID(),
      body: { campaign_id: await campaign(), amount_fen: 300, method: 'jsapi', openid: 'oPayerJsapi01' },
    });
    expect(res).toMatchObject({
      status: 201,
      body: {
        state: 'open',
        jsapi: { appId: sandboxMerchant.appid, signType: 'RSA', package: expect.stringMatching(/^prepay_id=/) },
      },
    });
    expect(await admin('pay', { jsapi: res.body.jsapi, openid: 'oPayerJsapi01' })).toMatchObject({
      trade_state: 'SUCCESS',
    });
    await stateOf(res.body.out_trade_no as string, 'paid');
  });
});

describe("WeChat not answering, and the operator's commands", () => {
  it('answers 202 while WeChat has not answered; the sweep sends the same create again', async () => {
    await admin('faults', { systemError: 1 });
    const c = await campaign();
    const key = randomUUID();
    const res = await api('POST', '/v1/topups', { key, body: { campaign_id: c, amount_fen: 500, method: 'native' } });
    expect(res).toMatchObject({ status: 202, body: { state: 'created', retry_after_ms: expect.any(Number) } });
    const no = res.body.out_trade_no as string;
    await queryNow(no);
    await stateOf(no, 'open');
    expect(
      (await api('POST', '/v1/topups', { key, body: { campaign_id: c, amount_fen: 500, method: 'native' } })).body,
    ).toMatchObject({ out_trade_no: no, state: 'open', code_url: expect.any(String) });
  });

  it('tops up from the command line, with the QR code in the terminal, lists, and refuses to resolve an order not in attention', async () => {
    const c = await campaign();
    const made = await cli(['topup', c, '1200']);
    expect(made).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(
        /^out_trade_no [0-9a-f]{32}\nstate +open\n[\s\S]*code_url +weixin:\/\/wxpay\/bizpayurl\?pr=\S+\n/,
      ),
    });
    expect(made.stdout.match(/[▀▄█]/gu)!.length).toBeGreaterThan(200); // the QR code, in half blocks
    const no = /out_trade_no ([0-9a-f]{32})/.exec(made.stdout)![1]!;
    expect(await cli(['topups', c])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(new RegExp(`${no} +${c} +12\\.00 +NATIVE +open[\\s\\S]*1 top-up\\n`)),
    });
    expect(await cli(['topup-resolve', no, 'credit'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('only an order in attention can be resolved'),
    });
    expect(await cli(['topup', 'c-nope', '1200'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('does not exist or has no advertiser bound'),
    });
  });
});

describe('orders nobody pays, and payments that do not fit', () => {
  it('closes an order past its expiry, at WeChat first', async () => {
    const o = await topup(await campaign());
    await expire(o.out_trade_no);
    await stateOf(o.out_trade_no, 'closed');
    expect(await order(o.out_trade_no)).toMatchObject({ provider_state: 'CLOSED' });
    expect(await admin('pay', { out_trade_no: o.out_trade_no })).toEqual({ error: 'ORDER_CLOSED' });
    expect((await api('GET', `/v1/topups/${o.out_trade_no}/qr.svg`)).status).toBe(409);
  });

  it('puts a payment after close in front of a person, never credited; resolved credit, it is', async () => {
    const o = await topup(await campaign());
    await expire(o.out_trade_no);
    await stateOf(o.out_trade_no, 'closed');
    await admin('pay', { out_trade_no: o.out_trade_no, after_close: true });
    expect(await stateOf(o.out_trade_no, 'attention')).toMatchObject({
      attention_reason: 'paid_after_close',
      paid_fen: '500',
    });
    await sleep(300);
    expect(await jobs(o.out_trade_no)).toEqual([]);
    expect(await payouts.topups.flow.resolve(o.out_trade_no, 'credit')).toMatchObject({
      ok: true,
      order: { state: 'paid', resolution: 'credit' },
    });
    expect(await jobs(o.out_trade_no)).toEqual([`credit-${o.out_trade_no}`]);
  });

  it('puts a payment of another amount in front of a person; resolved refund, it goes back whole, with nothing for the ledger', async () => {
    const o = await topup(await campaign());
    await pool.query('update topup_orders set amount_fen = 400 where out_trade_no = $1', [o.out_trade_no]); // we asked for 400, WeChat took 500
    await admin('pay', { out_trade_no: o.out_trade_no });
    expect(await stateOf(o.out_trade_no, 'attention')).toMatchObject({
      attention_reason: 'amount_mismatch',
      paid_fen: '500',
    });
    expect(await payouts.topups.flow.resolve(o.out_trade_no, 'refund')).toMatchObject({
      ok: true,
      order: { state: 'attention', resolution: 'refund' },
    });
    await until(
      'the whole refund',
      async () => (await api('GET', `/v1/topups/${o.out_trade_no}`)).body.refunds as { state: string }[],
      (r) => r[0]?.state === 'succeeded',
    );
    expect(await admin(`refunds/R${o.out_trade_no}`)).toMatchObject({ status: 'SUCCESS', amountFen: 500 });
    expect(await jobs(o.out_trade_no, `R${o.out_trade_no}`)).toEqual([]);
  });
});

describe("refunds of a campaign's unspent budget", () => {
  /** Two orders of a fresh campaign paid (the newer one last), and a campaign refund of `amountFen` held by rewards, requested. */
  async function paidCampaign(amountFen: number) {
    const c = await campaign();
    const older = await topup(c, 500);
    await admin('pay', { out_trade_no: older.out_trade_no });
    await stateOf(older.out_trade_no, 'paid');
    const newer = await topup(c, 300);
    await admin('pay', { out_trade_no: newer.out_trade_no });
    await stateOf(newer.out_trade_no, 'paid');
    const refundId = randomUUID();
    await pool.query(
      "insert into campaign_refunds (refund_id, campaign_id, advertiser_id, idempotency_key, amount_fen, currency, state) values ($1::uuid, $2, 'adv-1', $1::text, $3, 'CNY', 'requested')",
      [refundId, c, amountFen],
    );
    await refundQueue.add(refundRequests.jobName, { refundId }, { jobId: refundId });
    return { c, older: older.out_trade_no, newer: newer.out_trade_no, refundId, hex: refundId.replaceAll('-', '') };
  }
  const parts = async (refundId: string) =>
    (
      await pool.query<{ out_refund_no: string; out_trade_no: string; amount_fen: string; state: string }>(
        'select out_refund_no, out_trade_no, amount_fen, state from topup_refunds where refund_id = $1 order by out_refund_no',
        [refundId],
      )
    ).rows;
  const final = (rows: { state: string }[]) =>
    rows.length > 0 && rows.every((r) => r.state !== 'created' && r.state !== 'processing');

  it('splits a partial refund over two orders, newest first, and settles each part', async () => {
    const w = await paidCampaign(700);
    expect(await until('parts final', () => parts(w.refundId), final)).toEqual([
      { out_refund_no: `${w.hex}00`, out_trade_no: w.newer, amount_fen: '300', state: 'succeeded' },
      { out_refund_no: `${w.hex}01`, out_trade_no: w.older, amount_fen: '400', state: 'succeeded' },
    ]);
    expect(await jobs(`${w.hex}00`, `${w.hex}01`)).toEqual([`refund_settle-${w.hex}00`, `refund_settle-${w.hex}01`]);
    expect(await admin(`orders/${w.older}`)).toMatchObject({
      trade_state: 'SUCCESS',
      refunds: [{ amountFen: 400, status: 'SUCCESS' }],
    });
    expect(await admin(`orders/${w.newer}`)).toMatchObject({ trade_state: 'REFUND' });
  });

  it('releases a part WeChat closes (the money back to the budget)', async () => {
    await admin('faults', { refundClosed: 1 });
    const w = await paidCampaign(200);
    expect(await until('the part final', () => parts(w.refundId), final)).toMatchObject([
      { out_trade_no: w.newer, amount_fen: '200', state: 'failed' },
    ]);
    expect(await jobs(`${w.hex}00`)).toEqual([`refund_release-${w.hex}00`]);
  });

  /** A campaign refund whose one part WeChat reports ABNORMAL: in attention, asked about again in an hour, nothing for the ledger. */
  async function abnormalPart() {
    await admin('faults', { refundAbnormal: 1 });
    const w = await paidCampaign(100);
    const no = `${w.hex}00`;
    expect(await until('the part final', () => parts(w.refundId), final)).toMatchObject([{ state: 'attention' }]);
    const {
      rows: [p],
    } = await pool.query<{ reason: string; poll_in_s: number }>(
      'select reason, extract(epoch from next_poll_at - now())::float8 as poll_in_s from topup_refunds where out_refund_no = $1',
      [no],
    );
    expect(p!.reason).toBe('ABNORMAL');
    expect(p!.poll_in_s).toBeGreaterThan(3_500);
    await sleep(300);
    expect(await jobs(no)).toEqual([]);
    return { ...w, no };
  }
  const succeeded = (refundId: string) =>
    until(
      'the part succeeded',
      () => parts(refundId),
      (p) => p[0]?.state === 'succeeded',
    );

  it('puts an ABNORMAL part in front of a person; handled at WeChat, its REFUND.SUCCESS settles it, once', async () => {
    const w = await abnormalPart();
    const before = gate.answered.length;
    expect(await admin(`refunds/${w.no}/handle-abnormal`, {})).toMatchObject({ status: 'SUCCESS' });
    await succeeded(w.refundId);
    expect(gate.answered.slice(before)).toContainEqual({ path: '/v1/wechat/notify', status: 204 });
    await sleep(300);
    expect(await jobs(w.no)).toEqual([`refund_settle-${w.no}`]);
    expect((await api('GET', `/v1/topups/${w.newer}`)).body).toMatchObject({
      refunds: [{ out_refund_no: w.no, state: 'succeeded', provider_state: 'SUCCESS' }],
    });
  });

  it.each([
    [
      'the command a person runs after handling it',
      async (no: string) => {
        const checked = await cli(['topup-refund-check', no]);
        expect(checked).toMatchObject({
          code: 0,
          stdout: expect.stringMatching(
            new RegExp(
              `^${no}: succeeded \\(WeChat: SUCCESS\\)\n  1\\.00 yuan went back to the payer; rewards settles it`,
            ),
          ),
        });
      },
    ],
    [
      'the sweep, asking again when the hour is up',
      async (no: string) => {
        await pool.query('update topup_refunds set next_poll_at = now() where out_refund_no = $1', [no]);
      },
    ],
  ])(
    'settles a handled ABNORMAL part once its notification is held: by %s, then the late notification changes nothing',
    async (_by, ask) => {
      const w = await abnormalPart();
      expect(await cli(['topup-refund-check', w.no])).toMatchObject({
        code: 0,
        stdout: expect.stringContaining(
          `${w.no}: attention (WeChat: ABNORMAL)\n  WeChat could not return it to the payer's card`,
        ),
      });
      gate.hold();
      expect(await admin(`refunds/${w.no}/handle-abnormal`, {})).toMatchObject({ status: 'SUCCESS' });
      await ask(w.no);
      await succeeded(w.refundId);
      expect(await jobs(w.no)).toEqual([`refund_settle-${w.no}`]);
      const before = gate.answered.length;
      gate.release();
      await until(
        'the late notification answered',
        async () => gate.answered.slice(before),
        (a) => a.some((x) => x.status === 204),
      );
      expect(await jobs(w.no)).toEqual([`refund_settle-${w.no}`]);
      expect(await cli(['topup-refund-check', 'nosuchrefund'])).toMatchObject({
        code: 1,
        stderr: expect.stringContaining('no refund nosuchrefund'),
      });
    },
  );

  it("fails a part refused for the merchant's balance, and releases it", async () => {
    await admin('faults', { refundNotEnough: 1 });
    const w = await paidCampaign(100);
    expect(await until('the part final', () => parts(w.refundId), final)).toMatchObject([{ state: 'failed' }]);
    expect(await jobs(`${w.hex}00`)).toEqual([`refund_release-${w.hex}00`]);
  });
});
