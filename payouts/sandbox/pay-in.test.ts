// The sandbox's APIv3 pay-in side as strict as WeChat (issue 24 design, "WeChat protocol facts"):
// orders checked and idempotent by out_trade_no, the payer (expiry, close races, after_close), query
// and close, refunds in parts with their limits and faults (and an ABNORMAL one the merchant handles),
// notifications that decrypt to the query's body, the trade bill's rows and summary, and a restart.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseTradeBill } from '../reconcile-trades.js';
import type { CreateRefund, JsapiPayOrder, PayOrder } from '../wechat/v3-client.js';
import { decryptResource, type Resource } from '../wechat/v3-crypto.js';
import { sandboxMerchant } from './defaults.js';
import { startCallbackReceiver, startTestSandbox } from './test-clients.js';
import { chinaTime } from './timers.js';

type Sandbox = Awaited<ReturnType<typeof startTestSandbox>>;
let t: Sandbox;
let receiver: Awaited<ReturnType<typeof startCallbackReceiver>>;
const extra: Sandbox[] = [];
let seq = 0;
const no = (prefix = 'P') => `${prefix}${Date.now()}${seq++}`;
const order = (over: Partial<PayOrder> = {}): PayOrder => ({
  appid: sandboxMerchant.appid,
  mchid: sandboxMerchant.mchid,
  description: '广告预算充值',
  out_trade_no: no(),
  time_expire: chinaTime(Date.now() + 7_200_000),
  attach: 'camp-1',
  notify_url: receiver.url,
  amount: { total: 1_000, currency: 'CNY' },
  ...over,
});
const jsapi = (over: Partial<JsapiPayOrder> = {}): JsapiPayOrder => ({
  ...order(),
  payer: { openid: 'oJsapiPayer01' },
  ...over,
});
const refund = (outTradeNo: string, fen: number, over: Partial<CreateRefund> = {}): CreateRefund => ({
  out_trade_no: outTradeNo,
  out_refund_no: no('R'),
  reason: '预算退回',
  notify_url: receiver.url,
  amount: { refund: fen, total: 1_000, currency: 'CNY' },
  ...over,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 4_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let v = await read(); ; v = await read()) {
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(15);
  }
}
const basic = async (s: Sandbox = t) => (await s.admin('state')).basicBalanceFen as number;
/** A Native order, created and paid. */
async function paid(s: Sandbox = t, over: Partial<PayOrder> = {}) {
  const o = order(over);
  expect((await s.v3.createNativeOrder(o)).ok).toBe(true);
  expect(await s.admin('pay', { out_trade_no: o.out_trade_no })).toMatchObject({ trade_state: 'SUCCESS' });
  return o;
}
const events = (type: string, key: string, value: string) =>
  receiver.events().filter((e) => e.type === type && (e as Record<string, unknown>)[key] === value);
const today = () => chinaTime(Date.now()).slice(0, 10);
const other = async (overrides: Parameters<typeof startTestSandbox>[0] = {}) => {
  const s = await startTestSandbox(overrides);
  extra.push(s);
  return s;
};

beforeAll(async () => {
  t = await startTestSandbox();
  receiver = await startCallbackReceiver(() => t.v3);
});
afterEach(async () => {
  for (const s of extra.splice(0)) await s.stop();
  await t.admin('clock', { offsetMs: 0 });
});
afterAll(async () => {
  await receiver.close();
  await t.stop();
});

describe('creating an order', () => {
  it('answers a code_url for Native and a prepay_id for JSAPI; a repeat with the same body answers the same', async () => {
    const native = order();
    const first = await t.v3.createNativeOrder(native);
    expect(first).toMatchObject({
      ok: true,
      data: { code_url: expect.stringMatching(/^weixin:\/\/wxpay\/bizpayurl\?pr=/) },
    });
    expect(await t.v3.createNativeOrder({ ...native })).toEqual(first);
    const j = jsapi();
    const prepay = await t.v3.createJsapiOrder(j);
    expect(prepay).toMatchObject({ ok: true, data: { prepay_id: expect.stringMatching(/^wx\d{14}[0-9a-f]{20}$/) } });
    expect(await t.v3.createJsapiOrder(j)).toEqual(prepay);
  });

  it.each([
    ['another appid', { appid: 'wxother' }, 'APPID_MCHID_NOT_MATCH'],
    ['another mchid', { mchid: '1900000999' }, 'PARAM_ERROR'],
    ['an out_trade_no under 6 characters', { out_trade_no: 'A1234' }, 'PARAM_ERROR'],
    ['an out_trade_no with other characters', { out_trade_no: 'ABC$1234' }, 'PARAM_ERROR'],
    ['an out_trade_no over 32 characters', { out_trade_no: 'A'.repeat(33) }, 'PARAM_ERROR'],
    ['no description', { description: '' }, 'PARAM_ERROR'],
    ['a description over 127 characters', { description: '充'.repeat(128) }, 'PARAM_ERROR'],
    ['0 fen', { amount: { total: 0, currency: 'CNY' as const } }, 'PARAM_ERROR'],
    ['a fraction of a fen', { amount: { total: 1.5, currency: 'CNY' as const } }, 'PARAM_ERROR'],
    ['a plain http notify_url', { notify_url: 'http://127.0.0.1/v1/wechat/notify' }, 'PARAM_ERROR'],
    ['a notify_url with a query', { notify_url: 'https://127.0.0.1/v1/wechat/notify?x=1' }, 'PARAM_ERROR'],
    ['a time_expire in the past', { time_expire: chinaTime(Date.now() - 60_000) }, 'PARAM_ERROR'],
    ['a time_expire that is not RFC 3339', { time_expire: '2030-01-01 10:00:00' }, 'PARAM_ERROR'],
  ])('refuses %s', async (_why, over, code) => {
    expect(await t.v3.createNativeOrder(order(over as Partial<PayOrder>))).toMatchObject({
      ok: false,
      status: 400,
      code,
    });
  });

  it('refuses a JSAPI order without payer.openid, and accepts the edge values', async () => {
    const { payer: _p, ...without } = jsapi();
    expect(await t.v3.createJsapiOrder(without as JsapiPayOrder)).toMatchObject({
      ok: false,
      status: 400,
      code: 'PARAM_ERROR',
    });
    expect(
      await t.v3.createNativeOrder(order({ out_trade_no: `a_-*|${seq++}`, amount: { total: 1, currency: 'CNY' } })),
    ).toMatchObject({ ok: true });
  });

  it('answers INVALID_REQUEST to a number reused with another body, ORDERPAID once paid, ORDER_CLOSED once closed', async () => {
    const o = order();
    await t.v3.createNativeOrder(o);
    expect(await t.v3.createNativeOrder({ ...o, amount: { total: 999, currency: 'CNY' } })).toMatchObject({
      ok: false,
      status: 400,
      code: 'INVALID_REQUEST',
    });
    expect(await t.v3.createJsapiOrder({ ...o, payer: { openid: 'oX' } })).toMatchObject({
      ok: false,
      code: 'INVALID_REQUEST',
    });
    await t.admin('pay', { out_trade_no: o.out_trade_no });
    expect(await t.v3.createNativeOrder(o)).toMatchObject({ ok: false, status: 400, code: 'ORDERPAID' });
    const c = order();
    await t.v3.createNativeOrder(c);
    expect(await t.v3.closeOrder(c.out_trade_no)).toMatchObject({ ok: true, status: 204 });
    expect(await t.v3.createNativeOrder(c)).toMatchObject({ ok: false, status: 400, code: 'ORDER_CLOSED' });
  });
});

describe('the payer', () => {
  it('pays by out_trade_no, code_url or prepay_id: SUCCESS in the query, the money in BASIC, TRANSACTION.SUCCESS decrypting to the query body', async () => {
    const before = await basic();
    const [a, b, c] = [order(), order({ amount: { total: 2_000, currency: 'CNY' } }), jsapi()];
    const codeA = await t.v3.createNativeOrder(a);
    const codeB = await t.v3.createNativeOrder(b);
    const prepay = await t.v3.createJsapiOrder(c);
    expect(await t.admin('pay', { out_trade_no: a.out_trade_no })).toMatchObject({
      trade_state: 'SUCCESS',
      transaction_id: expect.stringMatching(/^4200\d{28}$/),
    });
    expect(await t.admin('pay', { code_url: codeB.ok && codeB.data.code_url })).toMatchObject({
      out_trade_no: b.out_trade_no,
      trade_state: 'SUCCESS',
    });
    expect(await t.admin('pay', { prepay_id: prepay.ok && prepay.data.prepay_id })).toMatchObject({
      out_trade_no: c.out_trade_no,
      openid: 'oJsapiPayer01',
    });
    expect(codeA.ok).toBe(true);
    expect(await basic()).toBe(before + 1_000 + 2_000 + 1_000);
    for (const o of [a, b, c]) {
      const got = await t.v3.getOrder(o.out_trade_no);
      expect(got).toMatchObject({
        ok: true,
        data: {
          appid: sandboxMerchant.appid,
          mchid: sandboxMerchant.mchid,
          out_trade_no: o.out_trade_no,
          trade_state: 'SUCCESS',
          attach: 'camp-1',
          bank_type: 'OTHERS',
          success_time: expect.stringMatching(/\+08:00$/),
          payer: { openid: expect.any(String) },
          amount: { total: o.amount.total, payer_total: o.amount.total, currency: 'CNY' },
        },
      });
      const [note] = await until(
        async () => events('TRANSACTION.SUCCESS', 'out_trade_no', o.out_trade_no),
        (e) => e.length > 0,
      );
      expect(note).toEqual({ type: 'TRANSACTION.SUCCESS', ...(got.ok ? got.data : {}) });
    }
  });

  it('refuses an unknown order, a paid one, a closed one and an expired one, which stays NOTPAY', async () => {
    expect(await t.admin('pay', { out_trade_no: 'NOSUCHORDER1' })).toEqual({ error: 'ORDER_NOT_EXIST' });
    expect(await t.admin('orders/NOSUCHORDER1')).toEqual({ error: 'ORDER_NOT_EXIST' });
    const p = await paid();
    expect(await t.admin('pay', { out_trade_no: p.out_trade_no })).toEqual({ error: 'ORDERPAID' });
    const c = order();
    await t.v3.createNativeOrder(c);
    await t.v3.closeOrder(c.out_trade_no);
    expect(await t.admin('pay', { out_trade_no: c.out_trade_no })).toEqual({ error: 'ORDER_CLOSED' });
    const e = order({ time_expire: chinaTime(Date.now() + 60_000) });
    await t.v3.createNativeOrder(e);
    await t.admin('clock', { offsetMs: 61_000 }); // the business clock passes time_expire
    expect(await t.admin('pay', { out_trade_no: e.out_trade_no })).toEqual({ error: 'ORDER_EXPIRED' });
    expect(await t.v3.getOrder(e.out_trade_no)).toMatchObject({ ok: true, data: { trade_state: 'NOTPAY' } });
    expect(await t.admin(`orders/${e.out_trade_no}`)).toMatchObject({ trade_state: 'NOTPAY', state: 'NOTPAY' });
  });

  it('with after_close pays an order the merchant closed (or let expire): the query then shows SUCCESS', async () => {
    const o = order({ time_expire: chinaTime(Date.now() + 60_000) });
    await t.v3.createNativeOrder(o);
    await t.admin('clock', { offsetMs: 61_000 });
    expect(await t.v3.closeOrder(o.out_trade_no)).toMatchObject({ ok: true, status: 204 });
    expect(await t.v3.getOrder(o.out_trade_no)).toMatchObject({ ok: true, data: { trade_state: 'CLOSED' } });
    expect(await t.admin('pay', { out_trade_no: o.out_trade_no, after_close: true })).toMatchObject({
      trade_state: 'SUCCESS',
    });
    expect(await t.v3.getOrder(o.out_trade_no)).toMatchObject({
      ok: true,
      data: { trade_state: 'SUCCESS', transaction_id: expect.any(String) },
    });
    expect(
      await until(
        async () => events('TRANSACTION.SUCCESS', 'out_trade_no', o.out_trade_no),
        (e) => e.length > 0,
      ),
    ).toHaveLength(1);
  });

  it('pays with the wx.requestPayment parameters the merchant signed, not with forged ones or another payer', async () => {
    const j = jsapi();
    const created = await t.v3.createJsapiOrder(j);
    const fields = {
      appId: sandboxMerchant.appid,
      timeStamp: String(t.nowS()),
      nonceStr: 'n0nce',
      package: `prepay_id=${created.ok && created.data.prepay_id}`,
    };
    const params = { ...fields, signType: 'RSA', paySign: t.v3.jsapiPaySign(fields) };
    expect(await t.admin('pay', { jsapi: { ...params, nonceStr: 'other' } })).toEqual({ error: 'PAY_SIGN_INVALID' });
    expect(await t.admin('pay', { jsapi: { ...params, signType: 'MD5' } })).toEqual({ error: 'PAY_SIGN_INVALID' });
    expect(await t.admin('pay', { jsapi: params, openid: 'oSomeoneElse' })).toEqual({ error: 'OPENID_MISMATCH' });
    expect(await t.admin('pay', { jsapi: params })).toMatchObject({
      out_trade_no: j.out_trade_no,
      trade_state: 'SUCCESS',
      openid: 'oJsapiPayer01',
    });
  });

  it('retries the notification after a bad signature and duplicates it by fault, under one notification id', async () => {
    await t.admin('faults', { badCallbackSignature: 1, duplicateCallbacks: true });
    try {
      const o = await paid();
      const mine = () =>
        receiver.received.flatMap((r) => {
          const body = JSON.parse(r.body) as { id: string; resource: Resource };
          const resource = JSON.parse(decryptResource(sandboxMerchant.apiV3Key, body.resource)) as {
            out_trade_no: string;
          };
          return resource.out_trade_no === o.out_trade_no ? [{ id: body.id, answered: r.answered }] : [];
        });
      const got = await until(
        async () => mine(),
        (m) => m.filter((r) => r.answered === 200).length >= 2,
      );
      expect(got.filter((r) => r.answered === 200).length).toBeGreaterThanOrEqual(2);
      expect(got.some((r) => r.answered === 401)).toBe(true);
      expect(new Set(got.map((r) => r.id)).size).toBe(1);
    } finally {
      await t.admin('faults', { badCallbackSignature: 0, duplicateCallbacks: false });
    }
  });
});

describe('query and close', () => {
  it('answers 404 ORDER_NOT_EXIST to an unknown order, and PARAM_ERROR to a query without the mchid', async () => {
    expect(await t.v3.getOrder('NOSUCHORDER2')).toMatchObject({ ok: false, status: 404, code: 'ORDER_NOT_EXIST' });
    const o = order();
    await t.v3.createNativeOrder(o);
    expect(await t.v3Raw('GET', `/v3/pay/transactions/out-trade-no/${o.out_trade_no}`)).toMatchObject({
      status: 400,
      body: { code: 'PARAM_ERROR' },
    });
    expect(
      await t.v3Raw('GET', `/v3/pay/transactions/out-trade-no/${o.out_trade_no}?mchid=${sandboxMerchant.mchid}`),
    ).toMatchObject({ status: 200, body: { trade_state: 'NOTPAY', amount: { total: 1_000 } } });
  });

  it('closes with 204 (again too), refuses a paid order ORDERPAID and an unknown one ORDER_NOT_EXIST', async () => {
    const o = order();
    await t.v3.createNativeOrder(o);
    expect(await t.v3.closeOrder(o.out_trade_no)).toMatchObject({ ok: true, status: 204 });
    expect(await t.v3.closeOrder(o.out_trade_no)).toMatchObject({ ok: true, status: 204 });
    expect(await t.v3.getOrder(o.out_trade_no)).toMatchObject({ ok: true, data: { trade_state: 'CLOSED' } });
    const p = await paid();
    expect(await t.v3.closeOrder(p.out_trade_no)).toMatchObject({ ok: false, status: 400, code: 'ORDERPAID' });
    expect(await t.v3.closeOrder('NOSUCHORDER3')).toMatchObject({ ok: false, status: 404, code: 'ORDER_NOT_EXIST' });
  });
});

describe('refunds', () => {
  it('answers PROCESSING, then SUCCESS a step later: money out of BASIC, REFUND.SUCCESS decrypting to the refund', async () => {
    const o = await paid();
    const before = await basic();
    const r = refund(o.out_trade_no, 300);
    const created = await t.v3.createRefund(r);
    expect(created).toMatchObject({
      ok: true,
      data: {
        out_refund_no: r.out_refund_no,
        out_trade_no: o.out_trade_no,
        status: 'PROCESSING',
        amount: { refund: 300, total: 1_000 },
      },
    });
    const done = await until(
      () => t.v3.getRefund(r.out_refund_no),
      (g) => g.ok && g.data.status !== 'PROCESSING',
    );
    expect(done).toMatchObject({
      ok: true,
      data: {
        status: 'SUCCESS',
        success_time: expect.stringMatching(/\+08:00$/),
        refund_id: created.ok && created.data.refund_id,
      },
    });
    expect(await basic()).toBe(before - 300);
    const [note] = await until(
      async () => events('REFUND.SUCCESS', 'out_refund_no', r.out_refund_no),
      (e) => e.length > 0,
    );
    const d = done.ok ? done.data : undefined;
    expect(note).toEqual({
      type: 'REFUND.SUCCESS',
      mchid: sandboxMerchant.mchid,
      out_trade_no: o.out_trade_no,
      transaction_id: d?.transaction_id,
      out_refund_no: r.out_refund_no,
      refund_id: d?.refund_id,
      refund_status: 'SUCCESS',
      success_time: d?.success_time,
      user_received_account: d?.user_received_account,
      amount: { total: 1_000, refund: 300, payer_total: 1_000, payer_refund: 300 },
    });
    expect(await t.v3.createRefund(r)).toMatchObject({
      ok: true,
      data: { status: 'SUCCESS', refund_id: d?.refund_id },
    });
  });

  it('refunds in parts up to the total, refuses more, and a fully refunded order reads REFUND', async () => {
    const o = await paid();
    const first = refund(o.out_trade_no, 600);
    await t.v3.createRefund(first);
    expect(await t.v3.createRefund(refund(o.out_trade_no, 401))).toMatchObject({
      ok: false,
      status: 400,
      code: 'INVALID_REQUEST',
    });
    const second = refund(o.out_trade_no, 400);
    expect(await t.v3.createRefund(second)).toMatchObject({ ok: true, data: { status: 'PROCESSING' } });
    expect(await t.v3.createRefund(refund(o.out_trade_no, 1))).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
    await until(
      () => t.v3.getRefund(second.out_refund_no),
      (g) => g.ok && g.data.status === 'SUCCESS',
    );
    await until(
      () => t.v3.getRefund(first.out_refund_no),
      (g) => g.ok && g.data.status === 'SUCCESS',
    );
    expect(await t.v3.getOrder(o.out_trade_no)).toMatchObject({ ok: true, data: { trade_state: 'REFUND' } });
  });

  it.each([
    ['an unknown order', async () => refund('NOSUCHORDER4', 100), 404, 'RESOURCE_NOT_EXISTS'],
    [
      'an unpaid order',
      async () => {
        const o = order();
        await t.v3.createNativeOrder(o);
        return refund(o.out_trade_no, 100);
      },
      404,
      'RESOURCE_NOT_EXISTS',
    ],
    [
      'another total',
      async () => refund((await paid()).out_trade_no, 100, { amount: { refund: 100, total: 999, currency: 'CNY' } }),
      400,
      'INVALID_REQUEST',
    ],
    ['0 fen', async () => refund((await paid()).out_trade_no, 0), 400, 'INVALID_REQUEST'],
    ['more than the order', async () => refund((await paid()).out_trade_no, 1_001), 400, 'INVALID_REQUEST'],
    [
      'a notify_url with a query',
      async () => refund((await paid()).out_trade_no, 100, { notify_url: 'https://127.0.0.1/n?x=1' }),
      400,
      'PARAM_ERROR',
    ],
  ])('refuses a refund of %s', async (_why, make, status, code) => {
    expect(await t.v3.createRefund(await make())).toMatchObject({ ok: false, status, code });
  });

  it('answers INVALID_REQUEST to a refund number reused with another body', async () => {
    const o = await paid();
    const r = refund(o.out_trade_no, 100);
    await t.v3.createRefund(r);
    expect(await t.v3.createRefund({ ...r, amount: { ...r.amount, refund: 200 } })).toMatchObject({
      ok: false,
      status: 400,
      code: 'INVALID_REQUEST',
    });
    expect(await t.v3.getRefund('NOSUCHREFUND')).toMatchObject({ ok: false, status: 404, code: 'RESOURCE_NOT_EXISTS' });
  });

  it('takes at most 50 refunds per order', async () => {
    const o = await paid();
    for (let i = 0; i < 50; i += 1) expect((await t.v3.createRefund(refund(o.out_trade_no, 1))).ok).toBe(true);
    expect(await t.v3.createRefund(refund(o.out_trade_no, 1))).toMatchObject({
      ok: false,
      status: 400,
      code: 'INVALID_REQUEST',
    });
  });

  it('answers 403 NOT_ENOUGH when BASIC cannot pay it (money of refunds in flight counted), and by the refundNotEnough fault', async () => {
    const s = await other();
    const o = await paid(s);
    const r = refund(o.out_trade_no, 500);
    await s.admin('faults', { refundNotEnough: 1 });
    expect(await s.v3.createRefund(r)).toMatchObject({ ok: false, status: 403, code: 'NOT_ENOUGH' });
    expect(await s.v3.createRefund(r)).toMatchObject({ ok: true, data: { status: 'PROCESSING' } });
    expect(await s.admin('withdraw', { amountFen: 2_000 })).toMatchObject({ error: expect.any(String) });
    expect(await s.admin('withdraw', { amountFen: 400 })).toMatchObject({ basicBalanceFen: 600 });
    // 600 in BASIC, 500 of it spoken for by the refund in flight.
    expect(await s.v3.createRefund(refund(o.out_trade_no, 101))).toMatchObject({
      ok: false,
      status: 403,
      code: 'NOT_ENOUGH',
    });
    expect(await s.v3.createRefund(refund(o.out_trade_no, 100))).toMatchObject({ ok: true });
  });

  it.each([
    ['refundClosed', 'CLOSED', 'REFUND.CLOSED', 0],
    ['refundAbnormal', 'ABNORMAL', 'REFUND.ABNORMAL', 400],
  ])(
    'with the %s fault ends %s with %s; %i fen leave BASIC; only the abnormal one still counts as refunded',
    async (fault, status, event, moved) => {
      const s = await other();
      const own = await startCallbackReceiver(() => s.v3);
      try {
        const o = await paid(s, { notify_url: own.url });
        await s.admin('faults', { [fault]: 1 });
        const r = refund(o.out_trade_no, 400, { notify_url: own.url });
        expect(await s.v3.createRefund(r)).toMatchObject({ ok: true, data: { status: 'PROCESSING' } });
        expect(
          await until(
            () => s.v3.getRefund(r.out_refund_no),
            (g) => g.ok && g.data.status !== 'PROCESSING',
          ),
        ).toMatchObject({ ok: true, data: { status } });
        expect(await basic(s)).toBe(1_000 - moved);
        const notes = await until(
          async () => own.events().filter((e) => e.type === event),
          (e) => e.length > 0,
        );
        expect(notes[0]).toMatchObject({ out_refund_no: r.out_refund_no, refund_status: status });
        expect(notes[0]).not.toHaveProperty('success_time');
        // What is left to refund: the closed refund's 400 come back into it, the abnormal one's do not.
        expect((await s.v3.createRefund(refund(o.out_trade_no, 1_000 - moved))).ok).toBe(true);
        expect(await s.v3.createRefund(refund(o.out_trade_no, 1))).toMatchObject({
          ok: false,
          code: 'INVALID_REQUEST',
        });
      } finally {
        await own.close();
      }
    },
  );
});

describe('an ABNORMAL refund the merchant handles (POST /sandbox/refunds/{no}/handle-abnormal)', () => {
  /** The admin route's status and body (the test client's admin() answers the body only). */
  const handle = async (s: Sandbox, outRefundNo: string) => {
    const res = await fetch(`http://127.0.0.1:${s.sandbox.adminPort}/sandbox/refunds/${outRefundNo}/handle-abnormal`, {
      method: 'POST',
      body: '{}',
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const rows = async (s: Sandbox, day: string) => {
    const got = await s.tradeBill(day);
    return 'text' in got
      ? parseTradeBill(got.text).map((row) => `${row.tradeState} ${row.outRefundNo} ${row.refundFen}`)
      : got.code;
  };

  it('makes it SUCCESS with no money moved again, REFUND.SUCCESS decrypting to the query, and a refund row on the day it was handled', async () => {
    const s = await other();
    const own = await startCallbackReceiver(() => s.v3);
    try {
      await s.admin('faults', { billsAtOnce: true });
      const o = await paid(s, { notify_url: own.url });
      await s.admin('faults', { refundAbnormal: 1 });
      const r = refund(o.out_trade_no, 400, { notify_url: own.url });
      await s.v3.createRefund(r);
      await until(
        () => s.v3.getRefund(r.out_refund_no),
        (g) => g.ok && g.data.status === 'ABNORMAL',
      );
      const day = today();
      expect(await rows(s, day)).toEqual(['SUCCESS 0 0']); // an ABNORMAL refund has no row
      expect(await basic(s)).toBe(600); // its money left BASIC when it went ABNORMAL

      const next = ((await s.admin('clock', { offsetMs: 86_400_000 })) as { day: string }).day;
      expect(await handle(s, r.out_refund_no)).toMatchObject({
        status: 200,
        body: { outRefundNo: r.out_refund_no, status: 'SUCCESS', abnormalAt: expect.any(Number) },
      });
      expect(await basic(s)).toBe(600);
      const done = await s.v3.getRefund(r.out_refund_no);
      expect(done).toMatchObject({
        ok: true,
        data: { status: 'SUCCESS', success_time: expect.stringMatching(new RegExp(`^${next}T`)) },
      });
      const d = done.ok ? done.data : undefined;
      const [note] = await until(
        async () => own.events().filter((e) => e.type === 'REFUND.SUCCESS'),
        (e) => e.length > 0,
      );
      expect(note).toEqual({
        type: 'REFUND.SUCCESS',
        mchid: sandboxMerchant.mchid,
        out_trade_no: o.out_trade_no,
        transaction_id: d?.transaction_id,
        out_refund_no: r.out_refund_no,
        refund_id: d?.refund_id,
        refund_status: 'SUCCESS',
        success_time: d?.success_time,
        user_received_account: d?.user_received_account,
        amount: { total: 1_000, refund: 400, payer_total: 1_000, payer_refund: 400 },
      });
      expect(await rows(s, day)).toEqual(['SUCCESS 0 0']);
      expect(await rows(s, next)).toEqual([`REFUND ${r.out_refund_no} 400`]);
      expect((await s.admin('state')).payIn).toMatchObject({ refundedFen: 400, abnormalFen: 0 });
    } finally {
      await own.close();
    }
  });

  it('answers 409 with the status for a refund that is not ABNORMAL (handled already, CLOSED, SUCCESS), and 404 for none', async () => {
    const s = await other();
    const o = await paid(s);
    const made = async (fault?: string) => {
      if (fault) await s.admin('faults', { [fault]: 1 });
      const r = refund(o.out_trade_no, 100);
      await s.v3.createRefund(r);
      await until(
        () => s.v3.getRefund(r.out_refund_no),
        (g) => g.ok && g.data.status !== 'PROCESSING',
      );
      return r.out_refund_no;
    };
    const abnormal = await made('refundAbnormal');
    expect((await handle(s, abnormal)).status).toBe(200);
    expect(await handle(s, abnormal)).toEqual({ status: 409, body: { error: 'NOT_ABNORMAL', status: 'SUCCESS' } });
    expect(await handle(s, await made('refundClosed'))).toEqual({
      status: 409,
      body: { error: 'NOT_ABNORMAL', status: 'CLOSED' },
    });
    expect(await handle(s, await made())).toEqual({ status: 409, body: { error: 'NOT_ABNORMAL', status: 'SUCCESS' } });
    expect(await handle(s, 'NOSUCHREFUND')).toEqual({ status: 404, body: { error: 'RESOURCE_NOT_EXISTS' } });
    expect(await basic(s)).toBe(1_000 - 100 - 100);
  });
});

describe('the trade bill', () => {
  it("lists the day's payments and refunds in WeChat's format; its summary adds up; SUCCESS and REFUND keep their rows", async () => {
    const s = await other();
    await s.admin('faults', { billsAtOnce: true });
    const a = await paid(s, { description: '推广预算充值, "加急"', attach: 'camp-9' });
    const b = await paid(s, { amount: { total: 333, currency: 'CNY' } });
    const r = refund(a.out_trade_no, 250);
    await s.v3.createRefund(r);
    await until(
      () => s.v3.getRefund(r.out_refund_no),
      (g) => g.ok && g.data.status === 'SUCCESS',
    );
    const got = await s.tradeBill(today());
    if (!('text' in got)) throw new Error(`no bill: ${got.code}`);
    expect(got.text.startsWith('\uFEFF交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号')).toBe(true);
    const lines = got.text.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    const fields = (line: string) => line.slice(1).split(',`');
    const [payA, payB, back] = lines.slice(1, 4).map(fields);
    const qa = await s.v3.getOrder(a.out_trade_no);
    const ref = await s.v3.getRefund(r.out_refund_no);
    expect(payA).toEqual([
      expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/),
      sandboxMerchant.appid,
      sandboxMerchant.mchid,
      '0',
      '',
      qa.ok && qa.data.transaction_id,
      a.out_trade_no,
      qa.ok && qa.data.payer?.openid,
      'NATIVE',
      'SUCCESS',
      'OTHERS',
      'CNY',
      '10.00',
      '0.00',
      '0',
      '0',
      '0.00',
      '0.00',
      '',
      '',
      '推广预算充值, "加急"',
      'camp-9',
      '0.06',
      '0.60%',
      '10.00',
      '0.00',
      '',
    ]);
    expect(payB!.slice(12, 13).concat(payB!.slice(22, 25))).toEqual(['3.33', '0.02', '0.60%', '3.33']); // 1.998 fen of fee, rounded half up
    expect(back!.slice(5, 20)).toEqual([
      qa.ok && qa.data.transaction_id,
      a.out_trade_no,
      expect.any(String),
      'NATIVE',
      'REFUND',
      'OTHERS',
      'CNY',
      '10.00',
      '0.00',
      ref.ok && ref.data.refund_id,
      r.out_refund_no,
      '2.50',
      '0.00',
      'ORIGINAL',
      'SUCCESS',
    ]);
    expect(back!.slice(22)).toEqual(['-0.02', '0.60%', '10.00', '2.50', '']); // 1.5 fen rounded half up, negative
    expect(lines[4]).toBe(
      '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额',
    );
    expect(lines[5]).toBe('`3,`23.33,`2.50,`0.00,`0.06,`23.33,`2.50');
    expect(
      parseTradeBill(got.text).map((row) => [row.tradeState, row.outTradeNo, row.orderFen, row.refundFen]),
    ).toEqual([
      ['SUCCESS', a.out_trade_no, 1_000n, 0n],
      ['SUCCESS', b.out_trade_no, 333n, 0n],
      ['REFUND', a.out_trade_no, 1_000n, 250n],
    ]);
    expect(got.sha1).toMatch(/^[0-9a-f]{40}$/);
    const success = await s.tradeBill(today(), 'SUCCESS');
    const refunds = await s.tradeBill(today(), 'REFUND');
    expect('text' in success && parseTradeBill(success.text).map((row) => row.tradeState)).toEqual([
      'SUCCESS',
      'SUCCESS',
    ]);
    expect('text' in refunds && parseTradeBill(refunds.text).map((row) => row.outRefundNo)).toEqual([r.out_refund_no]);
    const zipped = await s.tradeBill(today(), 'ALL', 'GZIP');
    expect(zipped).toMatchObject({ gzipped: true, text: got.text });
  });

  it('is STATEMENT_CREATING before 10:00 the next day, NO_STATEMENT_EXIST for a day or type without rows; feeRate 0 bills no fee', async () => {
    const s = await other({ feeRate: 0 });
    await paid(s);
    const day = today();
    expect(await s.tradeBill(day)).toEqual({ code: 'STATEMENT_CREATING' });
    expect(await s.tradeBill('2020-01-01')).toEqual({ code: 'NO_STATEMENT_EXIST' });
    await s.admin('clock', { offsetMs: 86_400_000 + 10 * 3_600_000 });
    const got = await s.tradeBill(day);
    expect('text' in got && got.text.split('\n')[1]!.split(',`').slice(22, 24)).toEqual(['0.00', '0.00%']);
    expect(await s.tradeBill(day, 'REFUND')).toEqual({ code: 'NO_STATEMENT_EXIST' });
    expect(await s.tradeBill(day, 'RECHARGE_REFUND')).toEqual({ code: 'PARAM_ERROR' });
  });

  it("puts a refund on the day it succeeded, apart from its payment's day", async () => {
    const s = await other();
    await s.admin('faults', { billsAtOnce: true });
    const o = await paid(s);
    const day = today();
    const next = ((await s.admin('clock', { offsetMs: 86_400_000 })) as { day: string }).day;
    const r = refund(o.out_trade_no, 100);
    await s.v3.createRefund(r);
    await until(
      () => s.v3.getRefund(r.out_refund_no),
      (g) => g.ok && g.data.status === 'SUCCESS',
    );
    const rows = async (d: string) => {
      const got = await s.tradeBill(d);
      return 'text' in got ? parseTradeBill(got.text).map((row) => `${row.tradeState} ${row.outRefundNo}`) : got.code;
    };
    expect(await rows(day)).toEqual(['SUCCESS 0']);
    expect(await rows(next)).toEqual([`REFUND ${r.out_refund_no}`]);
  });
});

describe('a restarted sandbox', () => {
  it('keeps its orders and refunds: a repeat answers as before, a refund in flight finishes, the money moved once', async () => {
    const journalFile = join(mkdtempSync(join(tmpdir(), 'sandbox-')), 'journal.jsonl');
    const first = await startTestSandbox({ journalFile, stepMs: 60_000 }); // no refund finishes before the restart
    const open = order();
    const code = await first.v3.createNativeOrder(open);
    const o = await paid(first);
    const r = refund(o.out_trade_no, 400);
    expect(await first.v3.createRefund(r)).toMatchObject({ ok: true, data: { status: 'PROCESSING' } });
    await first.stop();

    const second = await startTestSandbox({ journalFile });
    extra.push(second);
    expect(await second.v3.createNativeOrder(open)).toEqual(code);
    expect(await second.v3.createNativeOrder(o)).toMatchObject({ ok: false, code: 'ORDERPAID' });
    expect(
      await until(
        () => second.v3.getRefund(r.out_refund_no),
        (g) => g.ok && g.data.status === 'SUCCESS',
      ),
    ).toMatchObject({ ok: true, data: { status: 'SUCCESS' } });
    expect(await second.v3.getOrder(o.out_trade_no)).toMatchObject({ ok: true, data: { trade_state: 'SUCCESS' } });
    expect(await second.admin('pay', { out_trade_no: open.out_trade_no })).toMatchObject({ trade_state: 'SUCCESS' });
    expect(await basic(second)).toBe(1_000 - 400 + 1_000);
    await second.stop();
    extra.splice(0);

    const third = await startTestSandbox({ journalFile });
    extra.push(third);
    await third.admin('faults', { billsAtOnce: true });
    expect(await basic(third)).toBe(1_600);
    expect(await third.v3.getRefund(r.out_refund_no)).toMatchObject({ ok: true, data: { status: 'SUCCESS' } });
    const bill = await third.tradeBill(today());
    expect('text' in bill && parseTradeBill(bill.text).map((row) => `${row.tradeState} ${row.outTradeNo}`)).toEqual([
      `SUCCESS ${o.out_trade_no}`,
      `REFUND ${o.out_trade_no}`,
      `SUCCESS ${open.out_trade_no}`,
    ]);
  });
});
