// The sandbox's harder answers, each behind a fault or a setting: v2 transfers that stay PROCESSING,
// v2 signatures other than MD5, batches waiting in WAIT_PAY, stuck in ACCEPTED, or CLOSED with a
// close_reason and their callback, and NO_AUTH for a product the merchant does not have.
import { afterEach, describe, expect, it } from 'vitest';
import { createV2Client } from '../wechat/v2-client.js';
import { createTransport } from '../wechat/transport.js';
import type { CreateBatch } from '../wechat/v3-client.js';
import { sandboxMerchant } from './defaults.js';
import { startCallbackReceiver, startTestSandbox } from './test-clients.js';

type Sandbox = Awaited<ReturnType<typeof startTestSandbox>>;
const cleanup: (() => Promise<void>)[] = [];
const start = async (overrides: Parameters<typeof startTestSandbox>[0] = {}) => {
  const s = await startTestSandbox(overrides);
  cleanup.push(s.stop);
  return s;
};
afterEach(async () => {
  for (const stop of cleanup.splice(0).reverse()) await stop();
});
let seq = 0;
const no = (prefix: string) => `${prefix}${Date.now()}${seq++}`;
const transfer = (partnerTradeNo = no('P'), amount = 200) => ({
  partner_trade_no: partnerTradeNo,
  openid: 'oV2User',
  amount,
  desc: 'reward',
  check_name: 'NO_CHECK' as const,
  spbill_create_ip: '127.0.0.1',
});
const batch = (notifyUrl?: string): CreateBatch => {
  const outBatchNo = no('B');
  return {
    appid: sandboxMerchant.appid,
    out_batch_no: outBatchNo,
    batch_name: 'rewards',
    batch_remark: 'rewards',
    total_amount: 150,
    total_num: 1,
    transfer_detail_list: [
      { out_detail_no: `${outBatchNo}D0`, transfer_amount: 150, transfer_remark: 'reward', openid: 'oBatchUser' },
    ],
    ...(notifyUrl ? { notify_url: notifyUrl } : {}),
  };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const status = async (s: Sandbox, outBatchNo: string) => {
  const got = await s.v3.getBatch(outBatchNo, { offset: 0, limit: 20 });
  return got.ok ? got.data.transfer_batch : undefined;
};

describe('v2 transfers', () => {
  it('with the v2Processing fault answer SYSTEMERROR, then the query says PROCESSING k times before SUCCESS; a repeat meanwhile is SYSTEMERROR again', async () => {
    const s = await start();
    await s.admin('faults', { v2Processing: 1, v2ProcessingQueries: 2 });
    const t = transfer();
    expect(await s.v2.transfer(t)).toMatchObject({ ok: false, code: 'SYSTEMERROR', error: { retriable: true } });
    expect(await s.v2.transfer(t)).toMatchObject({ ok: false, code: 'SYSTEMERROR' });
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push(
        ((await s.v2.getTransferInfo(t.partner_trade_no)) as { fields: Record<string, string> }).fields.status,
      );
    expect(statuses).toEqual(['PROCESSING', 'PROCESSING', 'SUCCESS']);
    expect(await s.v2.transfer(t)).toMatchObject({ ok: true, fields: { payment_no: expect.any(String) } });
    expect(await s.admin('state')).toMatchObject({ paidFen: 200 });
  });

  it('verifies promotion/transfers as MD5 only: an HMAC-SHA256 signature is SIGN_ERROR', async () => {
    const s = await start();
    const https = createTransport({
      baseUrl: `https://127.0.0.1:${s.sandbox.tlsPort}`,
      timeoutMs: 2_000,
      tls: s.creds.tls,
    });
    cleanup.push(async () => https.close());
    const hmac = createV2Client(
      {
        mchid: sandboxMerchant.mchid,
        appid: sandboxMerchant.appid,
        apiKey: sandboxMerchant.apiV2Key,
        signType: 'HMAC-SHA256',
        transferSignType: 'HMAC-SHA256',
      },
      { transport: https },
    );
    expect(await hmac.transfer(transfer())).toMatchObject({ ok: false, code: 'SIGN_ERROR' });
    expect(await s.v2.transfer(transfer())).toMatchObject({ ok: true }); // MD5, no sign_type
  });
});

describe('v3 batches', () => {
  it('with the batchWaitPay fault answer WAIT_PAY and wait there before going on to FINISHED', async () => {
    const s = await start({ stepMs: 40 });
    await s.admin('faults', { batchWaitPay: 1 });
    const b = batch();
    expect(await s.v3.createBatch(b)).toMatchObject({ ok: true, data: { batch_status: 'WAIT_PAY' } });
    await sleep(120);
    expect(await status(s, b.out_batch_no)).toMatchObject({ batch_status: 'WAIT_PAY' });
    for (let i = 0; i < 100 && (await status(s, b.out_batch_no))?.batch_status !== 'FINISHED'; i++) await sleep(20);
    expect(await status(s, b.out_batch_no)).toMatchObject({ batch_status: 'FINISHED', success_num: 1 });
  });

  it('with the batchStuckAccepted fault stay ACCEPTED until the merchant tops up', async () => {
    const s = await start();
    await s.admin('faults', { batchStuckAccepted: 1 });
    const b = batch();
    await s.v3.createBatch(b);
    await sleep(200);
    expect(await status(s, b.out_batch_no)).toMatchObject({ batch_status: 'ACCEPTED' });
    await s.admin('topup', { amountFen: 10_000 });
    for (let i = 0; i < 100 && (await status(s, b.out_batch_no))?.batch_status !== 'FINISHED'; i++) await sleep(20);
    expect(await status(s, b.out_batch_no)).toMatchObject({ batch_status: 'FINISHED', success_num: 1 });
  });

  it.each(['OVERDUE_CLOSE', 'MERCHANT_REVOCATION'])(
    'with the batchClosed fault close with close_reason %s, pay nothing, and send MCHTRANSFER.BATCH.CLOSED',
    async (reason) => {
      const s = await start();
      const receiver = await startCallbackReceiver(() => s.v3);
      cleanup.push(receiver.close);
      await s.admin('faults', { batchClosed: 1, batchCloseReason: reason });
      const b = batch(receiver.url);
      await s.v3.createBatch(b);
      for (let i = 0; i < 100 && receiver.events().length === 0; i++) await sleep(20);
      expect(receiver.events()).toEqual([
        expect.objectContaining({
          type: 'MCHTRANSFER.BATCH.CLOSED',
          out_batch_no: b.out_batch_no,
          batch_status: 'CLOSED',
          close_reason: reason,
        }),
      ]);
      expect(await status(s, b.out_batch_no)).toMatchObject({ batch_status: 'CLOSED', close_reason: reason });
      expect(await s.admin('state')).toMatchObject({ paidFen: 0 });
    },
  );

  it('refuse an http notify_url with PARAM_ERROR', async () => {
    const s = await start();
    expect(await s.v3.createBatch(batch('http://127.0.0.1:8082/v1/wechat/notify'))).toMatchObject({
      ok: false,
      status: 400,
      code: 'PARAM_ERROR',
    });
  });
});

describe('products the merchant does not have', () => {
  const bill = () => ({
    appid: sandboxMerchant.appid,
    out_bill_no: no('T'),
    transfer_scene_id: '1000',
    openid: 'oBillUser',
    transfer_amount: 300,
    transfer_remark: 'reward',
    transfer_scene_report_infos: [
      { info_type: '活动名称', info_content: '看广告得奖励' },
      { info_type: '奖励说明', info_content: '观看广告获得奖励' },
    ],
  });
  it('answer NO_AUTH (v3 403, v2 err_code) per SANDBOX_PRODUCTS, and again after the admin route changes them', async () => {
    const s = await start({ products: ['v3_bill'] });
    expect(await s.v3.createBatch(batch())).toMatchObject({ ok: false, status: 403, code: 'NO_AUTH' });
    expect(await s.v3.getBatch('B1', { offset: 0, limit: 20 })).toMatchObject({
      ok: false,
      status: 403,
      code: 'NO_AUTH',
    });
    expect(await s.v2.transfer(transfer())).toMatchObject({ ok: false, code: 'NO_AUTH' });
    expect(await s.v3.createBill(bill())).toMatchObject({ ok: true });
    expect(await s.admin('products', { products: ['v3_batch', 'v2_transfer'] })).toEqual({
      products: ['v3_batch', 'v2_transfer'],
    });
    expect(await s.v3.createBill(bill())).toMatchObject({ ok: false, status: 403, code: 'NO_AUTH' });
    expect(await s.v3.createBatch(batch())).toMatchObject({ ok: true });
    expect(await s.v2.transfer(transfer())).toMatchObject({ ok: true });
    expect(await s.admin('products', { products: ['v4'] })).toMatchObject({
      error: expect.stringContaining('products'),
    });
  });
});
