// Top-ups over APIv2 (PAYOUTS_TOPUP_API=v2) end to end, against real Postgres and Redis and the project's
// sandbox in this process: pay/unifiedorder, the signed pay notification on /v1/wechat/notify/v2/pay,
// the JSAPI paySign the payer pays with, closeorder and orderquery at expiry, and a refund whose outcome
// comes encrypted (req_info) to /v1/wechat/notify/v2/refund.
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../common/config.js';
import { stopAll } from '../../common/shutdown.js';
import { fundingOutcomes, refundRequests, type FundingOutcomeJob } from '../../schemas/queues.js';
import { migratePostgres } from '../../schemas/migrate.js';
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
let payouts: Awaited<ReturnType<typeof createPayouts>>;
let redis: Redis;
let funding: Queue<FundingOutcomeJob>;
let operator = '';
const prefix = uniqueName('bull');
let port = 0;

beforeAll(async () => {
  db = await createTestPostgres('topups');
  await migratePostgres(
    { DATABASE_URL: db.url },
    { log: silentLog, dir: join(import.meta.dirname, '../../schemas/migrations/postgres') },
  );
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await pool.query("insert into advertisers (advertiser_id) values ('adv-1')");
  sandbox = await startTestSandbox({ stepMs: 50 });
  port = await freePort();
  const notify = `https://127.0.0.1:${port}/v1/wechat/notify`;
  const config = loadConfig(payoutsConfig, {
    ...process.env,
    DATABASE_URL: db.url,
    LOG_LEVEL: 'silent',
    PAYOUTS_PORT: String(port),
    PAYOUTS_OPS_PORT: '0',
    PAYOUTS_QUEUE_PREFIX: prefix,
    WECHATPAY_BASE_URL: `https://127.0.0.1:${sandbox.sandbox.tlsPort}`,
    WECHATPAY_APPID: sandboxMerchant.appid,
    PAYOUTS_NOTIFY_URL: notify,
    PAYOUTS_TOPUP_API: 'v2',
    PAYOUTS_TOPUP_NOTIFY_URL: `${notify}/v2/pay`,
    PAYOUTS_TOPUP_REFUND_NOTIFY_URL: `${notify}/v2/refund`,
    PAYOUTS_SWEEP_MS: '200',
    PAYOUTS_TOPUP_POLL_MS: '600000',
  });
  operator = config.PAYOUTS_OPERATOR_TOKEN;
  payouts = await createPayouts(config, { log: silentLog });
  redis = new Redis(stackEnv.REDIS_URL, { maxRetriesPerRequest: null });
  funding = new Queue<FundingOutcomeJob>(fundingOutcomes.name, { connection: redis, prefix });
});
afterAll(async () => {
  await stopAll(payouts?.parts ?? [], silentLog);
  await funding?.close();
  await redis?.quit();
  await sandbox?.stop();
  await deleteRedisPrefix(`${prefix}:`);
  await pool?.end();
  await db?.drop();
});

async function campaign() {
  const id = `c-${randomUUID().slice(0, 8)}`;
  await pool.query("insert into campaign_funding (campaign_id, advertiser_id) values ($1, 'adv-1')", [id]);
  return id;
}
/** A top-up by the operator's token through the API (201 expected). */
async function topup(body: Record<string, unknown>) {
  const res = await fetch(`http://127.0.0.1:${port}/v1/topups`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${operator}`,
      'content-type': 'application/json',
      'idempotency-key': randomUUID(),
    },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as Record<string, unknown>;
  expect([res.status, answer]).toMatchObject([201, { state: 'open' }]);
  return answer as { out_trade_no: string; code_url?: string; jsapi?: Record<string, string> };
}
const state = async (no: string) =>
  (
    await pool.query<{ state: string; provider_state: string | null }>(
      'select state, provider_state from topup_orders where out_trade_no = $1',
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
const jobIds = async () =>
  (await funding.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized'])).map((j) => j.id!);

describe('top-ups over APIv2', () => {
  it('creates a Native order, is paid, told by the signed pay notification, and credits once', async () => {
    const o = await topup({ campaign_id: await campaign(), amount_fen: 600, method: 'native' });
    expect(o.code_url).toMatch(/^weixin:\/\//);
    await sandbox.admin('pay', { code_url: o.code_url });
    await until(
      'paid',
      () => state(o.out_trade_no),
      (s) => s.state === 'paid',
    );
    expect((await jobIds()).filter((id) => id.endsWith(o.out_trade_no))).toEqual([`credit-${o.out_trade_no}`]);
  });

  it("signs a JSAPI order's parameters with the v2 key, which the payer pays with", async () => {
    const o = await topup({ campaign_id: await campaign(), amount_fen: 300, method: 'jsapi', openid: 'oPayerV2' });
    expect(o.jsapi).toMatchObject({
      appId: sandboxMerchant.appid,
      signType: 'HMAC-SHA256',
      package: expect.stringMatching(/^prepay_id=/),
    });
    expect(await sandbox.admin('pay', { jsapi: o.jsapi, openid: 'oPayerV2' })).toMatchObject({
      trade_state: 'SUCCESS',
    });
    await until(
      'paid',
      () => state(o.out_trade_no),
      (s) => s.state === 'paid',
    );
  });

  it('closes an expired order (closeorder, then orderquery)', async () => {
    const o = await topup({ campaign_id: await campaign(), amount_fen: 600, method: 'native' });
    await pool.query("update topup_orders set expires_at = now() - interval '61 seconds' where out_trade_no = $1", [
      o.out_trade_no,
    ]);
    expect(
      await until(
        'closed',
        () => state(o.out_trade_no),
        (s) => s.state === 'closed',
      ),
    ).toEqual({ state: 'closed', provider_state: 'CLOSED' });
  });

  it("refunds a campaign's budget, its outcome told by the encrypted refund notification", async () => {
    const c = await campaign();
    const o = await topup({ campaign_id: c, amount_fen: 900, method: 'native' });
    await sandbox.admin('pay', { out_trade_no: o.out_trade_no });
    await until(
      'paid',
      () => state(o.out_trade_no),
      (s) => s.state === 'paid',
    );
    const refundId = randomUUID();
    await pool.query(
      "insert into campaign_refunds (refund_id, campaign_id, advertiser_id, idempotency_key, amount_fen, currency, state) values ($1::uuid, $2, 'adv-1', $1::text, 250, 'CNY', 'requested')",
      [refundId, c],
    );
    const queue = new Queue(refundRequests.name, { connection: redis, prefix });
    await queue.add(refundRequests.jobName, { refundId }, { jobId: refundId });
    await queue.close();
    const no = `${refundId.replaceAll('-', '')}00`;
    const part = await until(
      'the part settled',
      async () =>
        (
          await pool.query<{ state: string; provider_state: string }>(
            'select state, provider_state from topup_refunds where out_refund_no = $1',
            [no],
          )
        ).rows[0],
      (p) => p?.state === 'succeeded',
    );
    expect(part).toEqual({ state: 'succeeded', provider_state: 'SUCCESS' });
    expect((await jobIds()).filter((id) => id.endsWith(no))).toEqual([`refund_settle-${no}`]);
  });
});
