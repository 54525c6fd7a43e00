// The sandbox's APIv2 pay-in side (reference/wechatpay.md §1, §6, §8): unifiedorder's checks and
// idempotency, answers signed as the request was (MD5 or HMAC-SHA256), the signed pay notification
// retried until SUCCESS, orderquery and closeorder, refunds over mutual TLS with their refusals and
// faults, the encrypted refund notification, refundquery, one set of orders with APIv3, and the
// trade bill through downloadbill.
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTradeBill } from '../reconcile-trades.js';
import { decryptV2ReqInfo, parseV2Xml, verifyV2, type V2SignType } from '../wechat/v2-protocol.js';
import { sandboxMerchant } from './defaults.js';
import { startTestSandbox, startV2Receiver } from './test-clients.js';
import { chinaTime } from './timers.js';

type Sandbox = Awaited<ReturnType<typeof startTestSandbox>>;
let t: Sandbox;
let rx: Awaited<ReturnType<typeof startV2Receiver>>;
let seq = 0;
const key = sandboxMerchant.apiV2Key;
const no = (prefix = 'V') => `${prefix}${Date.now()}${seq++}`;
const compact = (ms: number) => chinaTime(ms).slice(0, 19).replace(/\D/g, '');
const unified = (over: Record<string, string | number | undefined> = {}) => ({
  body: '广告预算充值',
  out_trade_no: no(),
  total_fee: 1_000,
  spbill_create_ip: '127.0.0.1',
  notify_url: rx.url,
  trade_type: 'NATIVE',
  product_id: 'camp-1',
  attach: 'camp-1',
  time_expire: compact(Date.now() + 7_200_000),
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
const call = (
  path: string,
  params: Record<string, string | number | undefined>,
  opts: Parameters<Sandbox['v2Raw']>[2] = {},
) => t.v2Raw(path, params, opts).then((a) => a.fields);
/** A NATIVE order made and paid through v2: its fields as sent. */
async function paidV2(over: Record<string, string | number | undefined> = {}) {
  const o = unified(over);
  expect(await call('/pay/unifiedorder', o)).toMatchObject({ result_code: 'SUCCESS' });
  expect(await t.admin('pay', { out_trade_no: o.out_trade_no })).toMatchObject({ trade_state: 'SUCCESS' });
  return o;
}
const refundOf = (
  o: { out_trade_no: string },
  fee: number,
  over: Record<string, string | number | undefined> = {},
) => ({
  out_trade_no: o.out_trade_no,
  out_refund_no: no('VR'),
  total_fee: 1_000,
  refund_fee: fee,
  notify_url: rx.url,
  ...over,
});

beforeAll(async () => {
  t = await startTestSandbox();
  rx = await startV2Receiver();
});
afterAll(async () => {
  await rx.close();
  await t.stop();
});

describe('pay/unifiedorder', () => {
  it.each<V2SignType>(['MD5', 'HMAC-SHA256'])(
    'answers NATIVE a code_url, JSAPI a prepay_id, signed with %s as asked; a repeat answers the same',
    async (signType) => {
      const n = unified();
      const first = await call('/pay/unifiedorder', n, { signType });
      expect(first).toMatchObject({
        return_code: 'SUCCESS',
        result_code: 'SUCCESS',
        trade_type: 'NATIVE',
        code_url: expect.stringMatching(/^weixin:\/\//),
        prepay_id: expect.stringMatching(/^wx/),
      });
      expect(verifyV2(first, key, signType)).toBe(true);
      expect(verifyV2(first, key, signType === 'MD5' ? 'HMAC-SHA256' : 'MD5')).toBe(false);
      const again = await call('/pay/unifiedorder', n, { signType });
      expect([again.code_url, again.prepay_id]).toEqual([first.code_url, first.prepay_id]);
      const j = await call(
        '/pay/unifiedorder',
        unified({ trade_type: 'JSAPI', product_id: undefined, openid: 'oV2Payer01' }),
        { signType },
      );
      expect(j).toMatchObject({ result_code: 'SUCCESS', trade_type: 'JSAPI', prepay_id: expect.stringMatching(/^wx/) });
      expect(j.code_url).toBeUndefined();
    },
  );

  it.each([
    ['a NATIVE order without product_id', { product_id: undefined }, 'LACK_PARAMS'],
    ['a JSAPI order without openid', { trade_type: 'JSAPI', product_id: undefined }, 'LACK_PARAMS'],
    ['another trade type', { trade_type: 'APP' }, 'PARAM_ERROR'],
    ['another appid', { appid: 'wxother' }, 'APPID_MCHID_NOT_MATCH'],
    ['0 fen', { total_fee: 0 }, 'PARAM_ERROR'],
    ['a time_expire in the past', { time_expire: compact(Date.now() - 60_000) }, 'PARAM_ERROR'],
    ['a time_expire that is no time', { time_expire: '20300231100000' }, 'PARAM_ERROR'],
    ['a notify_url with a query', { notify_url: 'https://127.0.0.1/n?x=1' }, 'PARAM_ERROR'],
  ])('refuses %s, signed', async (_why, over, code) => {
    const a = await call('/pay/unifiedorder', unified(over));
    expect(a).toMatchObject({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: code });
    expect(verifyV2(a, key, 'MD5')).toBe(true);
  });

  it('answers return_code FAIL, unsigned, to a request signed with another key or not by the algorithm it declares', async () => {
    expect(await call('/pay/unifiedorder', unified(), { key: 'x'.repeat(32) })).toEqual({
      return_code: 'FAIL',
      return_msg: '签名错误',
    });
    // Declares HMAC-SHA256, signed with MD5.
    expect(await call('/pay/unifiedorder', { ...unified(), sign_type: 'HMAC-SHA256' }, { signType: 'MD5' })).toEqual({
      return_code: 'FAIL',
      return_msg: '签名错误',
    });
  });

  it('answers OUT_TRADE_NO_USED to a number reused with other fields, ORDERPAID once paid, ORDERCLOSED once closed', async () => {
    const o = unified();
    await call('/pay/unifiedorder', o);
    expect(await call('/pay/unifiedorder', { ...o, total_fee: 999 })).toMatchObject({
      result_code: 'FAIL',
      err_code: 'OUT_TRADE_NO_USED',
    });
    await t.admin('pay', { out_trade_no: o.out_trade_no });
    expect(await call('/pay/unifiedorder', o)).toMatchObject({ result_code: 'FAIL', err_code: 'ORDERPAID' });
    const c = unified();
    await call('/pay/unifiedorder', c);
    expect(await call('/pay/closeorder', { out_trade_no: c.out_trade_no })).toMatchObject({ result_code: 'SUCCESS' });
    expect(await call('/pay/unifiedorder', c)).toMatchObject({ result_code: 'FAIL', err_code: 'ORDERCLOSED' });
  });

  it('answers the create faults: FREQUENCY_LIMITED signed, SYSTEMERROR with return_code FAIL', async () => {
    await t.admin('faults', { frequencyLimited: 1, systemError: 1 });
    const limited = await call('/pay/unifiedorder', unified());
    expect(limited).toMatchObject({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: 'FREQUENCY_LIMITED' });
    expect(verifyV2(limited, key, 'MD5')).toBe(true);
    expect(await call('/pay/unifiedorder', unified())).toMatchObject({ return_code: 'FAIL', err_code: 'SYSTEMERROR' });
    expect(await call('/pay/unifiedorder', unified())).toMatchObject({ result_code: 'SUCCESS' });
  });
});

describe('the pay notification, orderquery and closeorder', () => {
  it("notifies a payment in XML signed with the order's sign type, again until answered SUCCESS, carrying what orderquery answers", async () => {
    const own = await startV2Receiver({ failFirst: 1 });
    try {
      const o = {
        body: '广告预算充值',
        out_trade_no: no(),
        total_fee: 1_000,
        spbill_create_ip: '127.0.0.1',
        notify_url: own.url,
        trade_type: 'JSAPI' as const,
        openid: 'oV2Payer02',
        time_expire: compact(Date.now() + 7_200_000),
        attach: 'camp-2',
      };
      expect(await t.v2Hmac.unifiedOrder(o)).toMatchObject({ ok: true, fields: { prepay_id: expect.any(String) } });
      expect(await t.v2Hmac.orderQuery(o.out_trade_no)).toMatchObject({
        ok: true,
        fields: { trade_state: 'NOTPAY', total_fee: '1000', openid: 'oV2Payer02' },
      });
      await t.admin('pay', { out_trade_no: o.out_trade_no });
      const got = await until(
        async () => own.received,
        (r) => r.length >= 2,
      );
      expect(got).toHaveLength(2);
      expect(got[1]).toEqual(got[0]);
      const note = got[1]!;
      expect(note).toMatchObject({
        return_code: 'SUCCESS',
        result_code: 'SUCCESS',
        sign_type: 'HMAC-SHA256',
        out_trade_no: o.out_trade_no,
        total_fee: '1000',
        cash_fee: '1000',
        attach: 'camp-2',
        trade_type: 'JSAPI',
        openid: 'oV2Payer02',
      });
      expect(verifyV2(note, key, 'HMAC-SHA256')).toBe(true);
      const q = await t.v2Hmac.orderQuery(o.out_trade_no);
      expect(q).toMatchObject({
        ok: true,
        fields: {
          trade_state: 'SUCCESS',
          transaction_id: note.transaction_id,
          time_end: note.time_end,
          bank_type: note.bank_type,
        },
      });
      expect(note.time_end).toMatch(/^\d{14}$/);
      await sleep(100);
      expect(own.received).toHaveLength(2); // acknowledged: no more
    } finally {
      await own.close();
    }
  });

  it('queries by transaction_id too, and answers ORDERNOTEXIST to an unknown order', async () => {
    const o = await paidV2();
    const byNo = await call('/pay/orderquery', { out_trade_no: o.out_trade_no });
    expect(await call('/pay/orderquery', { transaction_id: byNo.transaction_id })).toMatchObject({
      out_trade_no: o.out_trade_no,
      trade_state: 'SUCCESS',
    });
    expect(await call('/pay/orderquery', { out_trade_no: 'NOSUCHV2ORDER' })).toMatchObject({
      return_code: 'SUCCESS',
      result_code: 'FAIL',
      err_code: 'ORDERNOTEXIST',
    });
  });

  it('closes an open order, then answers ORDERCLOSED; ORDERPAID for a paid one; ORDERNOTEXIST for none', async () => {
    const o = unified();
    await call('/pay/unifiedorder', o);
    expect(await t.v2.closeOrder(o.out_trade_no)).toMatchObject({ ok: true });
    expect(await call('/pay/orderquery', { out_trade_no: o.out_trade_no })).toMatchObject({ trade_state: 'CLOSED' });
    expect(await t.v2.closeOrder(o.out_trade_no)).toMatchObject({ ok: false, code: 'ORDERCLOSED' });
    expect(await t.v2.closeOrder((await paidV2()).out_trade_no)).toMatchObject({ ok: false, code: 'ORDERPAID' });
    expect(await t.v2.closeOrder('NOSUCHV2ORDER')).toMatchObject({ ok: false, code: 'ORDERNOTEXIST' });
  });

  it('pays a v2 JSAPI order with the paySign the merchant made, not with another', async () => {
    const o = unified({ trade_type: 'JSAPI', product_id: undefined, openid: 'oV2Payer03' });
    const made = await call('/pay/unifiedorder', o);
    const fields = {
      appId: sandboxMerchant.appid,
      timeStamp: String(t.nowS()),
      nonceStr: 'n0nce',
      package: `prepay_id=${made.prepay_id}`,
    };
    const signed = { ...fields, ...t.v2.paySign(fields) };
    expect(await t.admin('pay', { jsapi: { ...signed, timeStamp: '1' } })).toEqual({ error: 'PAY_SIGN_INVALID' });
    expect(await t.admin('pay', { jsapi: signed })).toMatchObject({
      out_trade_no: o.out_trade_no,
      trade_state: 'SUCCESS',
    });
  });
});

describe('secapi/pay/refund and refundquery', () => {
  it('needs the client certificate', async () => {
    const o = await paidV2();
    expect(await call('/secapi/pay/refund', refundOf(o, 100), { certified: false })).toMatchObject({
      return_code: 'FAIL',
      err_code: 'CA_ERROR',
    });
  });

  it('accepts a refund (PROCESSING), ends it SUCCESS with a req_info that decrypts to it, and lists every part of the order', async () => {
    const own = await startV2Receiver();
    try {
      const o = await paidV2();
      const first = refundOf(o, 300, { notify_url: own.url });
      const accepted = await t.v2.refund(first);
      expect(accepted).toMatchObject({
        ok: true,
        fields: {
          out_refund_no: first.out_refund_no,
          refund_fee: '300',
          total_fee: '1000',
          refund_id: expect.stringMatching(/^50\d{27}$/),
        },
      });
      expect(await t.v2.refundQuery(first.out_refund_no)).toMatchObject({
        ok: true,
        fields: { refund_count: '1', out_refund_no_0: first.out_refund_no, refund_status_0: 'PROCESSING' },
      });
      const [note] = await until(
        async () => own.received,
        (r) => r.length > 0,
      );
      expect(note).toMatchObject({
        return_code: 'SUCCESS',
        appid: sandboxMerchant.appid,
        mch_id: sandboxMerchant.mchid,
      });
      expect(note!.sign).toBeUndefined();
      const inner = parseV2Xml(decryptV2ReqInfo(note!.req_info!, key), 'root');
      const done = await t.v2.refundQuery(first.out_refund_no);
      expect(done).toMatchObject({
        ok: true,
        fields: {
          refund_status_0: 'SUCCESS',
          refund_success_time_0: expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/),
        },
      });
      const f = done.ok ? done.fields : {};
      expect(inner).toMatchObject({
        out_refund_no: first.out_refund_no,
        out_trade_no: o.out_trade_no,
        refund_id: f.refund_id_0,
        transaction_id: f.transaction_id,
        refund_status: 'SUCCESS',
        refund_fee: '300',
        total_fee: '1000',
        success_time: f.refund_success_time_0,
      });
      const second = refundOf(o, 200);
      await t.v2.refund(second);
      expect(await call('/pay/refundquery', { out_trade_no: o.out_trade_no })).toMatchObject({
        refund_count: '2',
        total_refund_count: '2',
        refund_fee: '500',
        out_refund_no_0: first.out_refund_no,
        out_refund_no_1: second.out_refund_no,
      });
      expect(await t.v2.refund(first)).toMatchObject({ ok: true, fields: { refund_id: f.refund_id_0 } }); // the same refund again
    } finally {
      await own.close();
    }
  });

  it.each([
    [
      'an unpaid order',
      async () => {
        const o = unified();
        await call('/pay/unifiedorder', o);
        return refundOf(o, 100);
      },
      'ORDERNOTEXIST',
    ],
    ['another total', async () => refundOf(await paidV2(), 100, { total_fee: 999 }), 'INVALID_REQUEST'],
    ['more than is left', async () => refundOf(await paidV2(), 1_001), 'ERROR'],
  ])('refuses a refund of %s', async (_why, make, code) => {
    expect(await t.v2.refund((await make()) as never)).toMatchObject({ ok: false, code });
  });

  it('refuses a refund number reused with other fields, and NOTENOUGH by the refundNotEnough fault; REFUNDNOTEXIST for none', async () => {
    const o = await paidV2();
    const r = refundOf(o, 100);
    await t.admin('faults', { refundNotEnough: 1 });
    expect(await t.v2.refund(r)).toMatchObject({ ok: false, code: 'NOTENOUGH' });
    expect(await t.v2.refund(r)).toMatchObject({ ok: true });
    expect(await t.v2.refund({ ...r, refund_fee: 200 })).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
    expect(await t.v2.refundQuery('NOSUCHV2REFUND')).toMatchObject({ ok: false, code: 'REFUNDNOTEXIST' });
  });

  it.each([
    ['refundClosed', 'REFUNDCLOSE'],
    ['refundAbnormal', 'CHANGE'],
  ])('with the %s fault ends it %s, in refundquery and the notification', async (fault, status) => {
    const own = await startV2Receiver();
    try {
      const o = await paidV2();
      await t.admin('faults', { [fault]: 1 });
      const r = refundOf(o, 100, { notify_url: own.url });
      await t.v2.refund(r);
      const [note] = await until(
        async () => own.received,
        (got) => got.length > 0,
      );
      expect(parseV2Xml(decryptV2ReqInfo(note!.req_info!, key), 'root')).toMatchObject({
        out_refund_no: r.out_refund_no,
        refund_status: status,
      });
      expect(await t.v2.refundQuery(r.out_refund_no)).toMatchObject({ ok: true, fields: { refund_status_0: status } });
    } finally {
      await own.close();
    }
  });
});

describe('an ABNORMAL (CHANGE) refund the merchant handles', () => {
  it('reads SUCCESS in refundquery and is notified SUCCESS in a req_info that decrypts to it; the money moved once', async () => {
    const own = await startV2Receiver();
    try {
      const o = await paidV2();
      await t.admin('faults', { refundAbnormal: 1 });
      const r = refundOf(o, 100, { notify_url: own.url });
      await t.v2.refund(r);
      await until(
        async () => own.received,
        (got) => got.length > 0,
      );
      const basic = async () => (await t.admin('state')).basicBalanceFen as number;
      const before = await basic();
      expect(await t.admin(`refunds/${r.out_refund_no}/handle-abnormal`, {})).toMatchObject({ status: 'SUCCESS' });
      expect(await basic()).toBe(before);
      const [, note] = await until(
        async () => own.received,
        (got) => got.length > 1,
      );
      const done = await t.v2.refundQuery(r.out_refund_no);
      expect(done).toMatchObject({
        ok: true,
        fields: {
          refund_status_0: 'SUCCESS',
          refund_success_time_0: expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/),
        },
      });
      const f = done.ok ? done.fields : {};
      expect(parseV2Xml(decryptV2ReqInfo(note!.req_info!, key), 'root')).toMatchObject({
        out_refund_no: r.out_refund_no,
        out_trade_no: o.out_trade_no,
        refund_id: f.refund_id_0,
        refund_status: 'SUCCESS',
        refund_fee: '100',
        success_time: f.refund_success_time_0,
      });
    } finally {
      await own.close();
    }
  });
});

describe('one set of orders with APIv3, and the trade bill', () => {
  it('shows a v2 order to v3 queries and refunds, and a v3 refund to refundquery', async () => {
    const o = await paidV2();
    expect(await t.v3.getOrder(o.out_trade_no)).toMatchObject({
      ok: true,
      data: { trade_state: 'SUCCESS', amount: { total: 1_000 } },
    });
    const outRefundNo = no('R3');
    expect(
      await t.v3.createRefund({
        out_trade_no: o.out_trade_no,
        out_refund_no: outRefundNo,
        amount: { refund: 1_000, total: 1_000, currency: 'CNY' },
        notify_url: 'https://127.0.0.1/n',
      }),
    ).toMatchObject({ ok: true });
    await until(
      () => t.v3.getRefund(outRefundNo),
      (g) => g.ok && g.data.status === 'SUCCESS',
    );
    expect(await t.v2.refundQuery(outRefundNo)).toMatchObject({
      ok: true,
      fields: { refund_status_0: 'SUCCESS', out_trade_no: o.out_trade_no },
    });
    expect(await call('/pay/orderquery', { out_trade_no: o.out_trade_no })).toMatchObject({ trade_state: 'REFUND' });
    expect(await call('/pay/unifiedorder', o)).toMatchObject({ err_code: 'ORDERPAID' });
  });

  it('serves the trade bill through downloadbill (no certificate): its rows, 20003 before it is made, 20002 with no trades, GZIP on request', async () => {
    const s = await startTestSandbox();
    try {
      const day = chinaTime(Date.now()).slice(0, 10).replaceAll('-', '');
      const bill = (params: Record<string, string>) =>
        s.v2Raw('/pay/downloadbill', { bill_date: day, bill_type: 'ALL', ...params }, { certified: false });
      const o = unified();
      await s.v2Raw('/pay/unifiedorder', o);
      await s.admin('pay', { out_trade_no: o.out_trade_no });
      expect((await bill({})).fields).toMatchObject({
        return_code: 'FAIL',
        return_msg: 'Bill Creating',
        error_code: '20003',
      });
      await s.admin('faults', { billsAtOnce: true });
      const text = (await bill({})).text;
      expect(parseTradeBill(text).map((r) => [r.tradeState, r.outTradeNo, r.orderFen])).toEqual([
        ['SUCCESS', o.out_trade_no, 1_000n],
      ]);
      expect(gunzipSync((await bill({ tar_type: 'GZIP' })).body).toString('utf8')).toBe(text);
      expect((await bill({ bill_type: 'REFUND' })).fields).toMatchObject({
        return_msg: 'No Bill Exist',
        error_code: '20002',
      });
      expect((await bill({ bill_date: '20200101' })).fields).toMatchObject({ error_code: '20002' });
      expect((await bill({ bill_type: 'OTHER' })).fields).toMatchObject({ return_msg: 'invalid bill_type' });
      expect(await s.v2.downloadBill(day)).toEqual({ ok: true, text });
    } finally {
      await s.stop();
    }
  });
});
