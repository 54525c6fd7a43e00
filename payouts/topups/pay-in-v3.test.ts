// The APIv3 pay-in side without a sandbox: the JSAPI paySign checked with the merchant certificate's
// key, the readers of orders and refunds against WeChat's shapes and broken ones, what a create and a
// refund send, how their refusals read, a close's signed empty answer, and the trade bill's SHA1.
import { createHash, createVerify, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fen } from '../../common/money.js';
import { ensureSandboxCerts } from '../sandbox/certs.js';
import { sandboxMerchant } from '../sandbox/defaults.js';
import { loadCredentials } from '../wechat/credentials.js';
import { payInError, wechatError } from '../wechat/errors.js';
import type { HttpAnswer, Transport } from '../wechat/transport.js';
import { createV3Client } from '../wechat/v3-client.js';
import { verifyJsapiPaySign, wechatpayHeaders } from '../wechat/v3-crypto.js';
import type { Order } from './pay-in.js';
import { chinaRfc3339, createV3PayIn, parseRfc3339, refundViewOf, tradeOf } from './pay-in-v3.js';

const dir = ensureSandboxCerts(sandboxMerchant.certDir, sandboxMerchant.mchid);
const merchant = loadCredentials({
  certFile: join(dir, 'apiclient_cert.pem'),
  keyFile: join(dir, 'apiclient_key.pem'),
  platformCertFiles: [],
});
const merchantCertKey = new X509Certificate(readFileSync(join(dir, 'apiclient_cert.pem'))).publicKey;
const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
const NOW_S = 1_700_000_000;
const config = { appid: 'wxapp', mchid: '1900000109' };

/** A pay-in over a client whose transport records each request and answers `answers` in turn. */
function payIn(answers: HttpAnswer[] = []) {
  const sent: { method: string; path: string; body: string }[] = [];
  const transport = {
    send: async (method: string, path: string, _h: Record<string, string>, body = '') => {
      sent.push({ method, path, body });
      return answers.shift() ?? signed(200, '{}');
    },
  } as unknown as Transport;
  const client = createV3Client(
    {
      mchid: config.mchid,
      serial: merchant.serial,
      privateKey: merchant.privateKey,
      apiV3Key: 'k'.repeat(32),
      platformKeys: new Map([['PUB_KEY_ID_1', platform.publicKey]]),
      encryptSerial: 'PUB_KEY_ID_1',
    },
    { transport, nowS: () => NOW_S },
  );
  return { sent, client, payIn: createV3PayIn(config, { client, nowMs: () => NOW_S * 1000 }) };
}
const signed = (status: number, text: string): HttpAnswer => ({
  status,
  headers: wechatpayHeaders(platform.privateKey, 'PUB_KEY_ID_1', text, NOW_S),
  body: Buffer.from(text),
});
const unsigned = (status: number, text: string): HttpAnswer => ({ status, headers: {}, body: Buffer.from(text) });
const order: Order = {
  outTradeNo: 'a'.repeat(32),
  amountFen: fen(12_345),
  description: '广告预算充值',
  tradeType: 'NATIVE',
  expiresAt: new Date('2026-12-04T22:30:00Z'),
  notifyUrl: 'https://m.example/notify',
  attach: 'campaign-1',
};

describe('the JSAPI paySign', () => {
  it("verifies with the merchant certificate's public key over appId, timeStamp, nonceStr and package, one line each", () => {
    const p = payIn().payIn.jsapiParams('wx2014');
    expect(p).toMatchObject({ appId: 'wxapp', timeStamp: String(NOW_S), package: 'prepay_id=wx2014', signType: 'RSA' });
    // Checked with Node's own verifier over the literal text WeChat signs, not with our helper.
    const text = `${p.appId}\n${p.timeStamp}\n${p.nonceStr}\n${p.package}\n`;
    expect(createVerify('RSA-SHA256').update(text).verify(merchantCertKey, p.paySign, 'base64')).toBe(true);
  });

  it.each(['appId', 'timeStamp', 'nonceStr', 'package'] as const)('fails when %s changes', (field) => {
    const p = payIn().payIn.jsapiParams('wx2014');
    expect(verifyJsapiPaySign(merchantCertKey, p, p.paySign)).toBe(true);
    expect(verifyJsapiPaySign(merchantCertKey, { ...p, [field]: `${p[field]}1` }, p.paySign)).toBe(false);
  });

  it('takes a fresh nonce each time', () => {
    const { payIn: v3 } = payIn();
    expect(v3.jsapiParams('wx1').nonceStr).not.toBe(v3.jsapiParams('wx1').nonceStr);
  });
});

const paid = {
  appid: 'wxapp',
  mchid: '1900000109',
  out_trade_no: 'T1',
  transaction_id: '4200001',
  trade_type: 'NATIVE',
  trade_state: 'SUCCESS',
  trade_state_desc: '支付成功',
  bank_type: 'OTHERS',
  attach: 'campaign-1',
  success_time: '2026-12-04T18:30:05+08:00',
  payer: { openid: 'o1' },
  amount: { total: 100, payer_total: 100, currency: 'CNY', payer_currency: 'CNY' },
};
const unpaid = {
  appid: 'wxapp',
  mchid: '1900000109',
  out_trade_no: 'T1',
  trade_state: 'NOTPAY',
  trade_state_desc: '订单未支付',
  amount: { total: 100 },
};

describe('tradeOf', () => {
  it('reads a paid order (query answer or notification resource)', () => {
    expect(tradeOf(paid)).toEqual({
      outTradeNo: 'T1',
      tradeState: 'SUCCESS',
      mchid: '1900000109',
      appid: 'wxapp',
      totalFen: fen(100),
      transactionId: '4200001',
      payerOpenid: 'o1',
      successTime: new Date('2026-12-04T10:30:05Z'),
      attach: 'campaign-1',
    });
  });

  it.each([
    [
      'unpaid, fields WeChat leaves out',
      unpaid,
      { outTradeNo: 'T1', tradeState: 'NOTPAY', mchid: '1900000109', appid: 'wxapp', totalFen: fen(100) },
    ],
    [
      'unpaid, with empty strings for absent fields',
      { ...unpaid, transaction_id: '', success_time: '', payer: {} },
      { outTradeNo: 'T1', tradeState: 'NOTPAY', mchid: '1900000109', appid: 'wxapp', totalFen: fen(100) },
    ],
    ['closed', { ...unpaid, trade_state: 'CLOSED' }, { tradeState: 'CLOSED' }],
    ['refunded', { ...paid, trade_state: 'REFUND' }, { tradeState: 'REFUND', transactionId: '4200001' }],
  ])('reads %s', (_name, resource, expected) => {
    expect(tradeOf(resource)).toMatchObject(expected);
  });

  it.each([
    ['not an object', 'SUCCESS'],
    ['null', null],
    ['an array', [paid]],
    ['no appid', { ...paid, appid: undefined }],
    ['an empty mchid', { ...paid, mchid: '' }],
    ['a numeric out_trade_no', { ...paid, out_trade_no: 1 }],
    ['an unknown trade_state', { ...paid, trade_state: 'PAID' }],
    ['no amount', { ...paid, amount: undefined }],
    ['a total as text', { ...paid, amount: { total: '100' } }],
    ['a fractional total', { ...paid, amount: { total: 1.5 } }],
    ['a total beyond safe integers', { ...paid, amount: { total: 2 ** 53 } }],
    ['a zero total', { ...paid, amount: { total: 0 } }],
    ['a negative total', { ...paid, amount: { total: -100 } }],
    ['another currency', { ...paid, amount: { total: 100, currency: 'USD' } }],
    ['SUCCESS without a transaction id', { ...paid, transaction_id: undefined }],
    ['SUCCESS without a time', { ...paid, success_time: undefined }],
    ['a time without its offset', { ...paid, success_time: '2026-12-04T18:30:05' }],
    ['a time that is no date', { ...paid, success_time: '2026-02-31T10:00:00+08:00' }],
    ['a numeric transaction id', { ...paid, transaction_id: 4200001 }],
    ['a payer that is text', { ...paid, payer: 'o1' }],
    ['a numeric openid', { ...paid, payer: { openid: 7 } }],
    ['a numeric attach', { ...paid, attach: 1 }],
  ])('refuses %s', (_name, resource) => {
    expect(tradeOf(resource)).toBeUndefined();
  });
});

const refundAnswer = {
  refund_id: '50000001',
  out_refund_no: 'R1',
  transaction_id: '4200001',
  out_trade_no: 'T1',
  channel: 'ORIGINAL',
  user_received_account: '支付用户零钱',
  create_time: '2026-12-05T10:00:00+08:00',
  status: 'PROCESSING',
  amount: { total: 100, refund: 40, payer_total: 100, payer_refund: 40, currency: 'CNY' },
};
const refundNotified = {
  mchid: '1900000109',
  out_trade_no: 'T1',
  transaction_id: '4200001',
  out_refund_no: 'R1',
  refund_id: '50000001',
  refund_status: 'SUCCESS',
  success_time: '2026-12-05T10:00:09+08:00',
  user_received_account: '支付用户零钱',
  amount: { total: 100, refund: 40, payer_total: 100, payer_refund: 40 },
};

describe('refundViewOf', () => {
  it.each([
    [
      'a create answer or query (status)',
      refundAnswer,
      { outRefundNo: 'R1', outTradeNo: 'T1', status: 'PROCESSING', amountFen: fen(40), refundId: '50000001' },
    ],
    [
      'a notification (refund_status)',
      refundNotified,
      {
        outRefundNo: 'R1',
        outTradeNo: 'T1',
        status: 'SUCCESS',
        amountFen: fen(40),
        refundId: '50000001',
        successTime: new Date('2026-12-05T02:00:09Z'),
      },
    ],
    ['a closed one', { ...refundAnswer, status: 'CLOSED' }, { status: 'CLOSED' }],
    ['an abnormal one', { ...refundNotified, refund_status: 'ABNORMAL', success_time: '' }, { status: 'ABNORMAL' }],
  ])('reads %s', (_name, resource, expected) => {
    const view = refundViewOf(resource);
    expect(view).toMatchObject(expected);
    if (!('successTime' in expected)) expect(view).not.toHaveProperty('successTime');
  });

  it.each([
    ['not an object', 42],
    ['no out_refund_no', { ...refundAnswer, out_refund_no: undefined }],
    ['no out_trade_no', { ...refundAnswer, out_trade_no: '' }],
    ['no status', { ...refundAnswer, status: undefined }],
    ['an unknown status', { ...refundAnswer, status: 'DONE' }],
    ['status and refund_status disagreeing', { ...refundAnswer, refund_status: 'SUCCESS' }],
    ['no amount', { ...refundAnswer, amount: undefined }],
    ['a refund as text', { ...refundAnswer, amount: { ...refundAnswer.amount, refund: '40' } }],
    ['a fractional refund', { ...refundAnswer, amount: { ...refundAnswer.amount, refund: 0.4 } }],
    ['a total beyond safe integers', { ...refundAnswer, amount: { ...refundAnswer.amount, total: 2 ** 60 } }],
    ['another currency', { ...refundAnswer, amount: { ...refundAnswer.amount, currency: 'HKD' } }],
    ['a bad time', { ...refundNotified, success_time: 'yesterday' }],
    ['a numeric refund id', { ...refundAnswer, refund_id: 5 }],
  ])('refuses %s', (_name, resource) => {
    expect(refundViewOf(resource)).toBeUndefined();
  });
});

describe('times', () => {
  it.each([
    ['2026-12-04T10:30:00.000Z', '2026-12-04T18:30:00+08:00'],
    ['2026-12-31T16:00:00.999Z', '2027-01-01T00:00:00+08:00'],
  ])('writes %s as time_expire %s', (utc, china) => {
    expect(chinaRfc3339(new Date(utc))).toBe(china);
    expect(parseRfc3339(china)?.getTime()).toBe(Math.floor(Date.parse(utc) / 1000) * 1000);
  });

  it.each(['2026-12-04T18:30:00.123Z', '2026-12-04T05:30:00-05:00'])('reads %s', (text) => {
    expect(parseRfc3339(text)).toBeInstanceOf(Date);
  });
});

describe('what the pay-in calls send', () => {
  it('creates a Native order from the stored order alone, the same body every time', async () => {
    const t = payIn([
      signed(200, '{"code_url":"weixin://wxpay/bizpayurl?pr=abc"}'),
      signed(200, '{"code_url":"weixin://wxpay/bizpayurl?pr=abc"}'),
    ]);
    expect(await t.payIn.create(order)).toEqual({
      ok: true,
      value: { tradeType: 'NATIVE', codeUrl: 'weixin://wxpay/bizpayurl?pr=abc' },
    });
    await t.payIn.create(order);
    expect(t.sent[0]).toMatchObject({ method: 'POST', path: '/v3/pay/transactions/native' });
    expect(JSON.parse(t.sent[0]!.body)).toEqual({
      appid: 'wxapp',
      mchid: '1900000109',
      description: '广告预算充值',
      out_trade_no: order.outTradeNo,
      time_expire: '2026-12-05T06:30:00+08:00',
      attach: 'campaign-1',
      notify_url: 'https://m.example/notify',
      amount: { total: 12_345, currency: 'CNY' },
    });
    expect(t.sent[1]!.body).toBe(t.sent[0]!.body);
  });

  it('creates a JSAPI order with the payer', async () => {
    const t = payIn([signed(200, '{"prepay_id":"wx201410272009395522657a690389285100"}')]);
    expect(await t.payIn.create({ ...order, tradeType: 'JSAPI', payerOpenid: 'o1' })).toEqual({
      ok: true,
      value: { tradeType: 'JSAPI', prepayId: 'wx201410272009395522657a690389285100' },
    });
    expect(t.sent[0]!.path).toBe('/v3/pay/transactions/jsapi');
    expect(JSON.parse(t.sent[0]!.body).payer).toEqual({ openid: 'o1' });
  });

  it('queries, closes and refunds by number', async () => {
    const t = payIn([
      signed(200, JSON.stringify(paid)),
      signed(204, ''),
      signed(200, JSON.stringify(refundAnswer)),
      signed(200, JSON.stringify(refundAnswer)),
    ]);
    expect(await t.payIn.query('T1')).toMatchObject({ ok: true, value: { tradeState: 'SUCCESS', totalFen: fen(100) } });
    expect(await t.payIn.close('T1')).toEqual({ ok: true, value: undefined });
    expect(
      await t.payIn.refund({
        outRefundNo: 'R1',
        outTradeNo: 'T1',
        amountFen: fen(40),
        totalFen: fen(100),
        reason: '预算退款',
        notifyUrl: 'https://m.example/notify',
      }),
    ).toMatchObject({ ok: true, value: { status: 'PROCESSING', amountFen: fen(40) } });
    expect(await t.payIn.queryRefund('R1')).toMatchObject({ ok: true, value: { outRefundNo: 'R1' } });
    expect(t.sent.map((s) => `${s.method} ${s.path}`)).toEqual([
      'GET /v3/pay/transactions/out-trade-no/T1?mchid=1900000109',
      'POST /v3/pay/transactions/out-trade-no/T1/close',
      'POST /v3/refund/domestic/refunds',
      'GET /v3/refund/domestic/refunds/R1',
    ]);
    expect(JSON.parse(t.sent[1]!.body)).toEqual({ mchid: '1900000109' });
    expect(JSON.parse(t.sent[2]!.body)).toEqual({
      out_trade_no: 'T1',
      out_refund_no: 'R1',
      reason: '预算退款',
      notify_url: 'https://m.example/notify',
      amount: { refund: 40, total: 100, currency: 'CNY' },
    });
  });

  it('throws a retriable fault for a close answered 204 without a valid signature', async () => {
    await expect(payIn([unsigned(204, '')]).payIn.close('T1')).rejects.toMatchObject({
      code: 'wechat_unverified_answer',
      retriable: true,
    });
  });

  it.each([
    ['a query', (p: ReturnType<typeof payIn>['payIn']) => p.query('T1'), { ...paid, amount: { total: '100' } }],
    ['a refund', (p: ReturnType<typeof payIn>['payIn']) => p.queryRefund('R1'), { ...refundAnswer, status: 'GONE' }],
    ['a create', (p: ReturnType<typeof payIn>['payIn']) => p.create(order), { prepay_id: 'x' }],
  ])('throws a retriable fault for %s answered in a shape WeChat never sends', async (_name, call, body) => {
    await expect(call(payIn([signed(200, JSON.stringify(body))]).payIn)).rejects.toMatchObject({
      code: 'wechat_bad_answer',
      retriable: true,
    });
  });
});

describe('pay-in refusals', () => {
  const refusal = (status: number, code: string) => signed(status, JSON.stringify({ code, message: 'm' }));
  const refund = {
    outRefundNo: 'R1',
    outTradeNo: 'T1',
    amountFen: fen(400),
    totalFen: fen(100),
    reason: '',
    notifyUrl: 'https://m.example/notify',
  };
  it.each([
    [
      'a refund over the refundable amount (INVALID_REQUEST) is final',
      (p: ReturnType<typeof payIn>['payIn']) => p.refund(refund),
      refusal(400, 'INVALID_REQUEST'),
      { retriable: false, final: true },
    ],
    [
      'a refund on a short balance (NOT_ENOUGH) is final for that attempt',
      (p: ReturnType<typeof payIn>['payIn']) => p.refund(refund),
      refusal(403, 'NOT_ENOUGH'),
      { retriable: false, final: true },
    ],
    [
      'a refund refused unsigned is never final',
      (p: ReturnType<typeof payIn>['payIn']) => p.refund(refund),
      unsigned(403, '{"code":"NOT_ENOUGH"}'),
      { retriable: false, final: false },
    ],
    [
      'a refund in a SYSTEM_ERROR is retriable',
      (p: ReturnType<typeof payIn>['payIn']) => p.refund(refund),
      refusal(500, 'SYSTEM_ERROR'),
      { retriable: true, final: false },
    ],
    [
      'a refund query of an unknown refund is "not yet"',
      (p: ReturnType<typeof payIn>['payIn']) => p.queryRefund('R1'),
      refusal(404, 'RESOURCE_NOT_EXISTS'),
      { retriable: true, final: false },
    ],
    [
      'a close of a paid order (ORDERPAID) is final',
      (p: ReturnType<typeof payIn>['payIn']) => p.close('T1'),
      refusal(400, 'ORDERPAID'),
      { retriable: false, final: true },
    ],
    [
      'a create of a paid order (ORDERPAID) needs its query',
      (p: ReturnType<typeof payIn>['payIn']) => p.create(order),
      refusal(400, 'ORDERPAID'),
      { retriable: false, final: false },
    ],
    [
      'a create under a reused number (INVALID_REQUEST) needs a person',
      (p: ReturnType<typeof payIn>['payIn']) => p.create(order),
      refusal(400, 'INVALID_REQUEST'),
      { retriable: false, final: false },
    ],
    [
      'a create of a closed order (ORDER_CLOSED) is final',
      (p: ReturnType<typeof payIn>['payIn']) => p.create(order),
      refusal(400, 'ORDER_CLOSED'),
      { retriable: false, final: true },
    ],
    [
      'a query of an order never created (ORDER_NOT_EXIST) is "not yet"',
      (p: ReturnType<typeof payIn>['payIn']) => p.query('T1'),
      refusal(404, 'ORDER_NOT_EXIST'),
      { retriable: true, final: false },
    ],
  ])('%s', async (_name, call, answer, info) => {
    const a = await call(payIn([answer]).payIn);
    expect(a).toMatchObject({ ok: false, error: info });
  });

  it('keeps what the codes mean to transfers', () => {
    expect(wechatError('NOT_ENOUGH')).toMatchObject({ retriable: true, final: false });
    expect(wechatError('INVALID_REQUEST')).toMatchObject({ retriable: false, final: false });
    expect(payInError('refund_query', 'NOT_ENOUGH')).toMatchObject({ retriable: true });
  });
});

describe('the trade bill', () => {
  const file = '\uFEFF交易时间,公众账号ID\n`2026-12-04 10:00:00,`wxapp\n';
  const meta = (hash: string) =>
    signed(
      200,
      JSON.stringify({
        hash_type: 'SHA1',
        hash_value: hash,
        download_url: 'https://api.mch.weixin.qq.com/v3/billdownload/file?token=t1',
      }),
    );
  const sha1 = createHash('sha1').update(file).digest('hex');

  it('asks for bill_type ALL and downloads the file its SHA1 vouches for', async () => {
    const t = payIn([meta(sha1.toUpperCase()), unsigned(200, file)]);
    expect(await t.payIn.tradeBill('2026-12-04')).toEqual({ ok: true, text: file });
    expect(t.sent.map((s) => s.path)).toEqual([
      '/v3/bill/tradebill?bill_date=2026-12-04&bill_type=ALL',
      '/v3/billdownload/file?token=t1',
    ]);
  });

  it('throws a retriable fault for a file its SHA1 does not match', async () => {
    await expect(payIn([meta(sha1), unsigned(200, `${file}x`)]).payIn.tradeBill('2026-12-04')).rejects.toMatchObject({
      code: 'wechat_bill_corrupt',
      retriable: true,
    });
  });

  it.each([
    ['NO_STATEMENT_EXIST as an empty bill', 'NO_STATEMENT_EXIST', { ok: true, text: '' }],
    ['STATEMENT_CREATING as not made yet', 'STATEMENT_CREATING', { ok: false, reason: 'creating' }],
    ['another code as failed', 'PARAM_ERROR', { ok: false, reason: 'failed' }],
  ])('reads %s', async (_name, code, expected) => {
    expect(
      await payIn([signed(400, JSON.stringify({ code, message: 'm' }))]).payIn.tradeBill('2026-12-04'),
    ).toMatchObject(expected);
  });
});
