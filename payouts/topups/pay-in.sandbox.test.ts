// Both pay-in clients against the project's WeChat Pay sandbox, started in this process: a Native
// order paid by the sandbox's payer and queried, a create sent again, a JSAPI order paid with the
// parameters our page would hand over, close, refunds (partial, then more than is left), the
// notifications read by the same readers as the payouts service's, and the trade bill.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fen } from '../../common/money.js';
import { sandboxMerchant } from '../sandbox/defaults.js';
import { startCallbackReceiver, startTestSandbox, startV2Receiver } from '../sandbox/test-clients.js';
import { chinaTime } from '../sandbox/timers.js';
import { verifyV2 } from '../wechat/v2-protocol.js';
import type { Order, PayIn, RefundView, Trade } from './pay-in.js';
import { createV2PayIn, decryptV2RefundInfo, refundViewOfV2, tradeOfV2 } from './pay-in-v2.js';
import { createV3PayIn, refundViewOf, tradeOf } from './pay-in-v3.js';

let t: Awaited<ReturnType<typeof startTestSandbox>>;
let v3Receiver: Awaited<ReturnType<typeof startCallbackReceiver>>;
let v2Receiver: Awaited<ReturnType<typeof startV2Receiver>>;
beforeAll(async () => {
  t = await startTestSandbox();
  v3Receiver = await startCallbackReceiver(() => t.v3);
  v2Receiver = await startV2Receiver();
});
afterAll(async () => {
  await v3Receiver?.close();
  await v2Receiver?.close();
  await t?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(read: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let v = await read(); ; v = await read()) {
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(20);
  }
}
const hex32 = () => randomBytes(16).toString('hex');
const v3Events = () => v3Receiver.events() as ({ type: string } & Record<string, unknown>)[];

/** What differs between the APIs: the client, where notifications go, and how the payouts service reads them. */
interface Api {
  payIn(): PayIn;
  notifyUrl(): string;
  paidNotification(outTradeNo: string): Trade | undefined;
  refundNotification(outRefundNo: string): RefundView | undefined;
  overRefundCode: string;
}
const apis: [string, Api][] = [
  [
    'v3',
    {
      payIn: () => createV3PayIn({ appid: sandboxMerchant.appid, mchid: sandboxMerchant.mchid }, { client: t.v3 }),
      notifyUrl: () => v3Receiver.url,
      paidNotification: (no) =>
        tradeOf(v3Events().find((e) => e.type === 'TRANSACTION.SUCCESS' && e.out_trade_no === no)),
      refundNotification: (no) =>
        refundViewOf(v3Events().find((e) => e.type.startsWith('REFUND.') && e.out_refund_no === no)),
      overRefundCode: 'INVALID_REQUEST',
    },
  ],
  [
    'v2',
    {
      payIn: () => createV2PayIn({ appid: sandboxMerchant.appid, clientIp: '127.0.0.1' }, { client: t.v2Hmac }),
      notifyUrl: () => v2Receiver.url,
      paidNotification(no) {
        const fields = v2Receiver.received.find((f) => f.out_trade_no === no);
        return fields && verifyV2(fields, sandboxMerchant.apiV2Key, 'HMAC-SHA256') ? tradeOfV2(fields) : undefined;
      },
      refundNotification(no) {
        const inner = v2Receiver.received
          .map((f) => (f.req_info ? decryptV2RefundInfo(f.req_info, sandboxMerchant.apiV2Key) : undefined))
          .find((f) => f?.out_refund_no === no);
        return inner && refundViewOfV2(inner);
      },
      overRefundCode: 'ERROR',
    },
  ],
];

describe.each(apis)('pay-in over %s against the sandbox', (name, api) => {
  let payIn: PayIn;
  /** The order paid, then refunded in part. */
  let paid: Order;
  let refundNo = '';
  const order = (over: Partial<Order> = {}): Order => ({
    outTradeNo: hex32(),
    amountFen: fen(1_000),
    description: '广告预算充值',
    tradeType: 'NATIVE',
    expiresAt: new Date(Date.now() + 7_200_000),
    notifyUrl: api.notifyUrl(),
    attach: `campaign-${name}`,
    ...over,
  });
  beforeAll(() => {
    payIn = api.payIn();
    paid = order();
  });

  it('creates a Native order, and a create sent again answers the same code_url', async () => {
    const first = await payIn.create(paid);
    expect(first).toMatchObject({
      ok: true,
      value: { tradeType: 'NATIVE', codeUrl: expect.stringMatching(/^weixin:\/\/wxpay\/bizpayurl\?pr=/) },
    });
    expect(await payIn.create(paid)).toEqual(first);
    expect(await payIn.query(paid.outTradeNo)).toMatchObject({
      ok: true,
      value: { tradeState: 'NOTPAY', totalFen: fen(1_000) },
    });
  });

  it('queries SUCCESS with the amount once the payer scanned and paid, as its notification says', async () => {
    const created = await payIn.create(paid);
    const codeUrl = created.ok && created.value.tradeType === 'NATIVE' ? created.value.codeUrl : '';
    expect(await t.admin('pay', { code_url: codeUrl })).toMatchObject({
      out_trade_no: paid.outTradeNo,
      trade_state: 'SUCCESS',
    });
    const q = await payIn.query(paid.outTradeNo);
    expect(q).toMatchObject({
      ok: true,
      value: {
        outTradeNo: paid.outTradeNo,
        tradeState: 'SUCCESS',
        totalFen: fen(1_000),
        mchid: sandboxMerchant.mchid,
        appid: sandboxMerchant.appid,
        attach: `campaign-${name}`,
      },
    });
    const trade = q.ok ? q.value : undefined;
    expect(trade?.transactionId).toMatch(/^\d+$/);
    expect(Math.abs(trade!.successTime!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(
      await until(
        () => api.paidNotification(paid.outTradeNo),
        (v) => v !== undefined,
      ),
    ).toEqual(trade);
  });

  it('pays a JSAPI order with the signed parameters our page hands over', async () => {
    const o = order({ tradeType: 'JSAPI', payerOpenid: 'oPayInTest01' });
    const created = await payIn.create(o);
    expect(created).toMatchObject({ ok: true, value: { tradeType: 'JSAPI' } });
    const params = payIn.jsapiParams(created.ok && created.value.tradeType === 'JSAPI' ? created.value.prepayId : '');
    expect(await t.admin('pay', { jsapi: { ...params, paySign: `x${params.paySign.slice(1)}` } })).toEqual({
      error: 'PAY_SIGN_INVALID',
    });
    expect(await t.admin('pay', { jsapi: params })).toMatchObject({
      out_trade_no: o.outTradeNo,
      trade_state: 'SUCCESS',
      openid: 'oPayInTest01',
    });
    expect(await payIn.query(o.outTradeNo)).toMatchObject({
      ok: true,
      value: { tradeState: 'SUCCESS', payerOpenid: 'oPayInTest01' },
    });
  });

  it('closes an unpaid order: the query shows CLOSED, a create again is refused for good, and a paid one cannot be closed', async () => {
    const o = order();
    expect((await payIn.create(o)).ok).toBe(true);
    expect(await payIn.close(o.outTradeNo)).toEqual({ ok: true, value: undefined });
    expect(await payIn.query(o.outTradeNo)).toMatchObject({ ok: true, value: { tradeState: 'CLOSED' } });
    expect(await payIn.create(o)).toMatchObject({ ok: false, error: { final: true } });
    expect(await payIn.close(paid.outTradeNo)).toMatchObject({ ok: false, code: 'ORDERPAID', error: { final: true } });
  });

  it('says an order never created does not exist yet, never that it failed', async () => {
    expect(await payIn.query(hex32())).toMatchObject({
      ok: false,
      code: name === 'v3' ? 'ORDER_NOT_EXIST' : 'ORDERNOTEXIST',
      error: { retriable: true, final: false },
    });
  });

  it('refunds part of a paid order, which its query and notification then show SUCCESS', async () => {
    refundNo = `${hex32()}00`;
    const refund = {
      outRefundNo: refundNo,
      outTradeNo: paid.outTradeNo,
      amountFen: fen(400),
      totalFen: fen(1_000),
      reason: '预算退款',
      notifyUrl: api.notifyUrl(),
    };
    const accepted = await payIn.refund(refund);
    expect(accepted).toMatchObject({
      ok: true,
      value: { outRefundNo: refundNo, outTradeNo: paid.outTradeNo, amountFen: fen(400) },
    });
    const done = await until(
      () => payIn.queryRefund(refundNo),
      (a) => a.ok && a.value.status === 'SUCCESS',
    );
    expect(done).toMatchObject({
      ok: true,
      value: { status: 'SUCCESS', amountFen: fen(400), refundId: accepted.ok ? accepted.value.refundId : '' },
    });
    expect(
      await until(
        () => api.refundNotification(refundNo),
        (v) => v !== undefined,
      ),
    ).toMatchObject({ outRefundNo: refundNo, status: 'SUCCESS', amountFen: fen(400) });
    // The same refund sent again is the same refund.
    expect(await payIn.refund(refund)).toMatchObject({
      ok: true,
      value: { outRefundNo: refundNo, refundId: accepted.ok ? accepted.value.refundId : '' },
    });
  });

  it('is refused for good a refund of more than the order has left', async () => {
    const a = await payIn.refund({
      outRefundNo: `${hex32()}01`,
      outTradeNo: paid.outTradeNo,
      amountFen: fen(601),
      totalFen: fen(1_000),
      reason: '',
      notifyUrl: api.notifyUrl(),
    });
    expect(a).toMatchObject({ ok: false, code: api.overRefundCode, error: { retriable: false, final: true } });
  });

  it("downloads the day's trade bill (v3: checked against its SHA1) with the payment and the refund", async () => {
    const day = chinaTime(Date.now()).slice(0, 10);
    expect(await payIn.tradeBill(day)).toMatchObject({ ok: false, reason: 'creating' });
    expect(await payIn.tradeBill('2020-01-01')).toEqual({ ok: true, text: '' });
    await t.admin('clock', { offsetMs: 86_400_000 + 10 * 3_600_000 });
    try {
      const bill = await payIn.tradeBill(day);
      const text = bill.ok ? bill.text : '';
      const rows = text.split('\n').filter((l) => l.includes(`\`${paid.outTradeNo}`));
      expect(rows.map((r) => r.split(',`')[9])).toEqual(['SUCCESS', 'REFUND']);
      expect(rows[1]).toContain(`\`${refundNo}`);
      expect(text.startsWith('\uFEFF交易时间,')).toBe(true);
    } finally {
      await t.admin('clock', { offsetMs: 0 });
    }
  });
});
