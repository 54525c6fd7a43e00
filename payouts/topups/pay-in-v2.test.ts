// The APIv2 pay-in side without a sandbox: the JSAPI paySign against vectors computed outside this
// code (md5sum, openssl), a refund notification's req_info made by openssl, the readers of the pay
// notification, orderquery and refund shapes (broken ones too), and what each call sends.
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fen } from '../../common/money.js';
import type { Transport } from '../wechat/transport.js';
import { createV2Client } from '../wechat/v2-client.js';
import { encryptV2ReqInfo, parseV2Xml, toV2Xml, verifyV2, type V2SignType } from '../wechat/v2-protocol.js';
import type { Order } from './pay-in.js';
import {
  chinaCompact,
  createV2PayIn,
  decryptV2RefundInfo,
  parseChinaTime,
  refundViewOfV2,
  tradeOfV2,
} from './pay-in-v2.js';

const KEY = '192006250b4c09247ec02edce69f6a2d';
const NOW_MS = 1_700_000_000_000;

/** A pay-in over a client whose transport records each call's path and fields and answers `answers` in turn, signed. */
function payIn(signType: V2SignType, answers: Record<string, string>[] = []) {
  const sent: { path: string; fields: Record<string, string> }[] = [];
  const transport = {
    send: async (_m: string, path: string, _h: Record<string, string>, body = '') => {
      sent.push({ path, fields: parseV2Xml(body)! });
      const fields = answers.shift() ?? { return_code: 'SUCCESS', result_code: 'SUCCESS' };
      return {
        status: 200,
        headers: {},
        body: Buffer.from(toV2Xml(fields.return_code === 'SUCCESS' ? withSign(fields, signType) : fields)),
      };
    },
  } as unknown as Transport;
  const client = createV2Client(
    { mchid: '10000100', appid: 'wxd930ea5d5a258f4f', apiKey: KEY, signType, transferSignType: 'MD5' },
    { transport },
  );
  return {
    sent,
    client,
    payIn: createV2PayIn({ appid: 'wxd930ea5d5a258f4f', clientIp: '10.0.0.1' }, { client, nowMs: () => NOW_MS }),
  };
}
function withSign(fields: Record<string, string>, type: V2SignType) {
  const all = { ...fields, nonce_str: 'n', ...(type === 'MD5' ? {} : { sign_type: type }) };
  return { ...all, sign: signed(all, type) };
}
// The v2 sign, written out again here so the client's answers are not checked by what produced them.
const signed = (p: Record<string, string>, type: V2SignType) => {
  const text = `${Object.keys(p)
    .filter((k) => p[k] !== '')
    .sort()
    .map((k) => `${k}=${p[k]}`)
    .join('&')}&key=${KEY}`;
  return (type === 'MD5' ? createHash('md5').update(text) : createHmac('sha256', KEY).update(text))
    .digest('hex')
    .toUpperCase();
};

const order: Order = {
  outTradeNo: 'a'.repeat(32),
  amountFen: fen(12_345),
  description: '广告预算充值',
  tradeType: 'NATIVE',
  expiresAt: new Date('2026-12-04T22:30:00Z'),
  notifyUrl: 'https://m.example/v2/pay',
  attach: 'campaign-1',
};

describe('the v2 JSAPI paySign', () => {
  const fields = {
    appId: 'wxd930ea5d5a258f4f',
    timeStamp: '1414561699',
    nonceStr: '5K8264ILTKCH16CQ2502SI8ZNMTM67VS',
    package: 'prepay_id=wx201410272009395522657a690389285100',
  };
  // Vectors from `printf ... | md5sum` and `openssl dgst -sha256 -hmac` over appId=..&nonceStr=..&package=..&signType=..&timeStamp=..&key=..
  it.each([
    ['MD5', 'FD19D752A746E5F238A6E53BD99EEBD0'],
    ['HMAC-SHA256', 'FC7A79E4918B4FFA96E836F5AD4A510F31241FB46C14C971D6D7B4F8E15AF262'],
  ] as const)('signs {appId, timeStamp, nonceStr, package, signType} with %s', (type, expected) => {
    expect(payIn(type).client.paySign(fields)).toEqual({ signType: type, paySign: expected });
  });

  it('gives the page parameters that verify, with a fresh nonce', () => {
    const { payIn: v2 } = payIn('HMAC-SHA256');
    const p = v2.jsapiParams('wx2014');
    expect(p).toMatchObject({
      appId: 'wxd930ea5d5a258f4f',
      timeStamp: String(NOW_MS / 1000),
      package: 'prepay_id=wx2014',
      signType: 'HMAC-SHA256',
    });
    const { paySign, ...rest } = p;
    expect(verifyV2({ ...rest, sign: paySign }, KEY, 'HMAC-SHA256')).toBe(true);
    expect(v2.jsapiParams('wx2014').nonceStr).not.toBe(p.nonceStr);
  });
});

describe("the v2 refund notification's req_info", () => {
  // Made by `openssl enc -aes-256-ecb -K <hex of md5(KEY) as text> -base64`.
  const fromOpenssl =
    'WBzGpzQuNpcFxIlFjUUD9BZv+lpBMzd2SHiKCkwfALWid5G8ZvfOussfMIHLbKJmI/uKTSu1206Pv8FVtDW3T06pYa1/HmXN2h1zd07OZRodZ6wJEKB1uc7xpcuyUPewDwGnAhWBVoyDJInQAFcVnS0K/EAP9fTGVForzwSQ0LNxrARd++rUsjkM8nlob9pIob6i0XybelLc7hu2oGCNBtyj9PYv1TwPbCYBNSTKzMyuyB8kLsqIzjsrZ6+U6EPYHMa0SD3HRNnWX/ZK2nBOnT3x+dMtGy1QR/wOyVf6CZ++NjBG6qupgwqsdqdhA5qaZEiby3naDA1yxRDr6a+Z3g==';
  const plain = {
    out_refund_no: 'R1',
    out_trade_no: 'T1',
    refund_status: 'SUCCESS',
    refund_fee: '50',
    success_time: '2026-12-04 10:30:00',
  };

  it('decrypts what openssl encrypted under the MD5 of the API key', () => {
    expect(decryptV2RefundInfo(fromOpenssl, KEY)).toEqual(plain);
  });

  it('round-trips, and reads the refund in it', () => {
    const xml = `<root>${Object.entries(plain)
      .map(([k, v]) => `<${k}><![CDATA[${v}]]></${k}>`)
      .join('')}</root>`;
    const fields = decryptV2RefundInfo(encryptV2ReqInfo(xml, KEY), KEY)!;
    expect(refundViewOfV2(fields)).toEqual({
      outRefundNo: 'R1',
      outTradeNo: 'T1',
      status: 'SUCCESS',
      amountFen: fen(50),
      successTime: new Date('2026-12-04T02:30:00Z'),
    });
  });

  it.each([
    ['under another key', () => decryptV2RefundInfo(fromOpenssl, 'x'.repeat(32))],
    ['not base64 of a cipher text', () => decryptV2RefundInfo('bm90IGVuY3J5cHRlZA==', KEY)],
    ['not XML inside', () => decryptV2RefundInfo(encryptV2ReqInfo('hello', KEY), KEY)],
  ])('is undefined %s', (_name, read) => {
    expect(read()).toBeUndefined();
  });
});

const notified = {
  return_code: 'SUCCESS',
  result_code: 'SUCCESS',
  appid: 'wxd930ea5d5a258f4f',
  mch_id: '10000100',
  openid: 'o1',
  trade_type: 'NATIVE',
  bank_type: 'CMC',
  total_fee: '100',
  cash_fee: '100',
  fee_type: 'CNY',
  transaction_id: '4200001',
  out_trade_no: 'T1',
  attach: 'campaign-1',
  time_end: '20261204183005',
  nonce_str: 'n',
  sign: 'S',
};
const queried = {
  return_code: 'SUCCESS',
  result_code: 'SUCCESS',
  appid: 'wxd930ea5d5a258f4f',
  mch_id: '10000100',
  out_trade_no: 'T1',
  total_fee: '100',
  trade_state: 'NOTPAY',
  trade_state_desc: '订单未支付',
};

describe('tradeOfV2', () => {
  it.each([
    [
      'a pay notification (no trade_state: a payment)',
      notified,
      {
        outTradeNo: 'T1',
        tradeState: 'SUCCESS',
        mchid: '10000100',
        appid: 'wxd930ea5d5a258f4f',
        totalFen: fen(100),
        transactionId: '4200001',
        payerOpenid: 'o1',
        successTime: new Date('2026-12-04T10:30:05Z'),
        attach: 'campaign-1',
      },
    ],
    [
      "an unpaid order's query",
      queried,
      { outTradeNo: 'T1', tradeState: 'NOTPAY', mchid: '10000100', appid: 'wxd930ea5d5a258f4f', totalFen: fen(100) },
    ],
    [
      "a closed order's query",
      { ...queried, trade_state: 'CLOSED', transaction_id: '' },
      { outTradeNo: 'T1', tradeState: 'CLOSED', mchid: '10000100', appid: 'wxd930ea5d5a258f4f', totalFen: fen(100) },
    ],
    [
      "a paid order's query",
      { ...notified, trade_state: 'SUCCESS' },
      { tradeState: 'SUCCESS', transactionId: '4200001' },
    ],
  ])('reads %s', (_name, fields, expected) => {
    const trade = tradeOfV2(fields);
    expect(trade).toMatchObject(expected);
    if (expected.tradeState !== 'SUCCESS') expect(trade).toEqual(expected);
  });

  it.each([
    ['return_code FAIL', { ...notified, return_code: 'FAIL' }],
    ['result_code FAIL', { ...notified, result_code: 'FAIL' }],
    ['no appid', { ...notified, appid: '' }],
    ['no mch_id', { ...notified, mch_id: undefined as unknown as string }],
    ['an unknown trade_state', { ...queried, trade_state: 'DONE' }],
    ['a zero total_fee', { ...notified, total_fee: '0' }],
    ['a total_fee with a leading zero', { ...notified, total_fee: '0100' }],
    ['a fractional total_fee', { ...notified, total_fee: '1.00' }],
    ['a negative total_fee', { ...notified, total_fee: '-100' }],
    ['a total_fee beyond safe integers', { ...notified, total_fee: '9007199254740993' }],
    ['another currency', { ...notified, fee_type: 'USD' }],
    ['SUCCESS without a transaction id', { ...notified, transaction_id: '' }],
    ['SUCCESS without time_end', { ...notified, time_end: undefined as unknown as string }],
    ['a time_end that is no date', { ...notified, time_end: '20261331000000' }],
    ['a time_end in another format', { ...notified, time_end: '2026-12-04T18:30:05' }],
  ])('refuses %s', (_name, fields) => {
    expect(tradeOfV2(fields)).toBeUndefined();
  });
});

describe('refundViewOfV2', () => {
  const part = {
    out_refund_no: 'R1',
    out_trade_no: 'T1',
    refund_id: '50000001',
    refund_fee: '40',
    total_fee: '100',
    refund_status: 'SUCCESS',
    success_time: '2026-12-05 10:00:09',
  };
  it.each([
    [
      'SUCCESS',
      part,
      { status: 'SUCCESS', amountFen: fen(40), refundId: '50000001', successTime: new Date('2026-12-05T02:00:09Z') },
    ],
    ['REFUNDCLOSE as CLOSED', { ...part, refund_status: 'REFUNDCLOSE', success_time: '' }, { status: 'CLOSED' }],
    ['CHANGE as ABNORMAL', { ...part, refund_status: 'CHANGE', success_time: '' }, { status: 'ABNORMAL' }],
    ['PROCESSING', { ...part, refund_status: 'PROCESSING', success_time: '' }, { status: 'PROCESSING' }],
  ])('reads %s', (_name, fields, expected) => {
    expect(refundViewOfV2(fields)).toMatchObject({ outRefundNo: 'R1', outTradeNo: 'T1', ...expected });
  });

  it.each([
    ['no out_refund_no', { ...part, out_refund_no: '' }],
    ['an unknown status', { ...part, refund_status: 'CLOSED' }],
    ['no status', { ...part, refund_status: undefined as unknown as string }],
    ['a refund_fee as decimals', { ...part, refund_fee: '0.40' }],
    ['a broken total_fee', { ...part, total_fee: 'x' }],
    ['a bad success_time', { ...part, success_time: '2026-12-05T10:00:09' }],
  ])('refuses %s', (_name, fields) => {
    expect(refundViewOfV2(fields)).toBeUndefined();
  });
});

describe('v2 times', () => {
  it('writes time_expire as yyyyMMddHHmmss in China time', () => {
    expect(chinaCompact(new Date('2026-12-31T16:30:00Z'))).toBe('20270101003000');
  });
  it.each([
    ['20261204183005', '2026-12-04T10:30:05.000Z'],
    ['2026-12-04 18:30:05', '2026-12-04T10:30:05.000Z'],
    ['20260229000000', undefined],
    ['2026-12-04 18:30', undefined],
  ])('reads %s', (text, iso) => {
    expect(parseChinaTime(text)?.toISOString()).toBe(iso);
  });
});

describe('what the v2 pay-in calls send', () => {
  it('sends a unified order from the stored order, signed with the configured type', async () => {
    const t = payIn('HMAC-SHA256', [
      { return_code: 'SUCCESS', result_code: 'SUCCESS', prepay_id: 'wx1', trade_type: 'JSAPI' },
    ]);
    expect(await t.payIn.create({ ...order, tradeType: 'JSAPI', payerOpenid: 'o1' })).toEqual({
      ok: true,
      value: { tradeType: 'JSAPI', prepayId: 'wx1' },
    });
    expect(t.sent[0]!.path).toBe('/pay/unifiedorder');
    expect(t.sent[0]!.fields).toMatchObject({
      appid: 'wxd930ea5d5a258f4f',
      mch_id: '10000100',
      body: '广告预算充值',
      out_trade_no: order.outTradeNo,
      total_fee: '12345',
      spbill_create_ip: '10.0.0.1',
      notify_url: 'https://m.example/v2/pay',
      trade_type: 'JSAPI',
      openid: 'o1',
      time_expire: '20261205063000',
      attach: 'campaign-1',
      sign_type: 'HMAC-SHA256',
    });
    expect(t.sent[0]!.fields).not.toHaveProperty('product_id');
    expect(verifyV2(t.sent[0]!.fields, KEY, 'HMAC-SHA256')).toBe(true);
  });

  it("reads a Native order's code_url", async () => {
    const t = payIn('MD5', [
      {
        return_code: 'SUCCESS',
        result_code: 'SUCCESS',
        code_url: 'weixin://wxpay/bizpayurl?pr=abc',
        trade_type: 'NATIVE',
      },
    ]);
    expect(await t.payIn.create(order)).toEqual({
      ok: true,
      value: { tradeType: 'NATIVE', codeUrl: 'weixin://wxpay/bizpayurl?pr=abc' },
    });
    expect(t.sent[0]!.fields).not.toHaveProperty('openid');
    expect(t.sent[0]!.fields.product_id).toBe(order.outTradeNo);
  });

  it('queries, closes, refunds over the certificate path, and finds its own part in a refund query', async () => {
    const t = payIn('MD5', [
      { ...queried },
      { return_code: 'SUCCESS', result_code: 'SUCCESS' },
      {
        return_code: 'SUCCESS',
        result_code: 'SUCCESS',
        out_trade_no: 'T1',
        out_refund_no: 'R1',
        refund_id: '50000001',
        refund_fee: '40',
        total_fee: '100',
      },
      {
        return_code: 'SUCCESS',
        result_code: 'SUCCESS',
        out_trade_no: 'T1',
        refund_count: '2',
        out_refund_no_0: 'R0',
        refund_fee_0: '10',
        refund_status_0: 'SUCCESS',
        out_refund_no_1: 'R1',
        refund_id_1: '50000001',
        refund_fee_1: '40',
        refund_status_1: 'PROCESSING',
      },
    ]);
    expect(await t.payIn.query('T1')).toMatchObject({ ok: true, value: { tradeState: 'NOTPAY' } });
    expect(await t.payIn.close('T1')).toEqual({ ok: true, value: undefined });
    expect(
      await t.payIn.refund({
        outRefundNo: 'R1',
        outTradeNo: 'T1',
        amountFen: fen(40),
        totalFen: fen(100),
        reason: '预算退款',
        notifyUrl: 'https://m.example/v2/refund',
      }),
    ).toEqual({
      ok: true,
      value: { outRefundNo: 'R1', outTradeNo: 'T1', status: 'PROCESSING', amountFen: fen(40), refundId: '50000001' },
    });
    expect(await t.payIn.queryRefund('R1')).toEqual({
      ok: true,
      value: { outRefundNo: 'R1', outTradeNo: 'T1', status: 'PROCESSING', amountFen: fen(40), refundId: '50000001' },
    });
    expect(t.sent.map((s) => s.path)).toEqual([
      '/pay/orderquery',
      '/pay/closeorder',
      '/secapi/pay/refund',
      '/pay/refundquery',
    ]);
    expect(t.sent[2]!.fields).toMatchObject({
      out_trade_no: 'T1',
      out_refund_no: 'R1',
      total_fee: '100',
      refund_fee: '40',
      refund_desc: '预算退款',
      notify_url: 'https://m.example/v2/refund',
    });
  });

  it('throws a retriable fault for a signed answer without what was asked', async () => {
    const t = payIn('MD5', [
      {
        return_code: 'SUCCESS',
        result_code: 'SUCCESS',
        out_trade_no: 'T1',
        refund_count: '1',
        out_refund_no_0: 'R9',
        refund_fee_0: '10',
        refund_status_0: 'SUCCESS',
      },
    ]);
    await expect(t.payIn.queryRefund('R1')).rejects.toMatchObject({ code: 'wechat_bad_answer', retriable: true });
  });

  const fail = (code: string) => ({ return_code: 'SUCCESS', result_code: 'FAIL', err_code: code, err_code_des: 'd' });
  it.each([
    [
      'a refund on a short balance (NOTENOUGH) is final for that attempt',
      'refund',
      fail('NOTENOUGH'),
      { retriable: false, final: true },
    ],
    [
      'a refund refused by a business rule (ERROR) is final',
      'refund',
      fail('ERROR'),
      { retriable: false, final: true },
    ],
    [
      'a refund asked to be retried (BIZERR_NEED_RETRY) is retriable',
      'refund',
      fail('BIZERR_NEED_RETRY'),
      { retriable: true, final: false },
    ],
    [
      'a refund in FREQUENCY_LIMITED is retriable',
      'refund',
      fail('FREQUENCY_LIMITED'),
      { retriable: true, final: false },
    ],
    [
      'a refund refused unsigned (return_code FAIL) is never final',
      'refund',
      { return_code: 'FAIL', return_msg: 'x', err_code: 'NOTENOUGH' },
      { final: false },
    ],
    [
      'a refund query of an unknown refund (REFUNDNOTEXIST) is "not yet"',
      'queryRefund',
      fail('REFUNDNOTEXIST'),
      { retriable: true, final: false },
    ],
    ['a close of a paid order (ORDERPAID) is final', 'close', fail('ORDERPAID'), { retriable: false, final: true }],
    [
      'a close of a closed order (ORDERCLOSED) is final',
      'close',
      fail('ORDERCLOSED'),
      { retriable: false, final: true },
    ],
    [
      'a create of a paid order (ORDERPAID) needs its query',
      'create',
      fail('ORDERPAID'),
      { retriable: false, final: false },
    ],
    ['a create in SYSTEMERROR is retriable', 'create', fail('SYSTEMERROR'), { retriable: true, final: false }],
    [
      'a query of an order never created (ORDERNOTEXIST) is "not yet"',
      'query',
      fail('ORDERNOTEXIST'),
      { retriable: true, final: false },
    ],
  ] as const)('%s', async (_name, call, answer, info) => {
    const { payIn: v2 } = payIn('MD5', [answer]);
    const refund = {
      outRefundNo: 'R1',
      outTradeNo: 'T1',
      amountFen: fen(40),
      totalFen: fen(100),
      reason: '',
      notifyUrl: 'https://m.example/v2/refund',
    };
    const a =
      call === 'refund'
        ? await v2.refund(refund)
        : call === 'queryRefund'
          ? await v2.queryRefund('R1')
          : call === 'close'
            ? await v2.close('T1')
            : call === 'create'
              ? await v2.create(order)
              : await v2.query('T1');
    expect(a).toMatchObject({ ok: false, code: answer.err_code, error: info });
  });

  it.each([
    ['a bill', 'text\n', { ok: true, text: 'text\n' }],
    [
      '20002 as an empty bill',
      toV2Xml({ return_code: 'FAIL', return_msg: 'No Bill Exist', error_code: '20002' }),
      { ok: true, text: '' },
    ],
    [
      '20003 as not made yet',
      toV2Xml({ return_code: 'FAIL', return_msg: 'Bill Creating', error_code: '20003' }),
      { ok: false, reason: 'creating' },
    ],
  ])('reads the trade bill: %s', async (_name, body, expected) => {
    const sent: Record<string, string>[] = [];
    const transport = {
      send: async (_m: string, path: string, _h: Record<string, string>, b = '') => (
        sent.push({ path, ...parseV2Xml(b)! }),
        { status: 200, headers: {}, body: Buffer.from(body) }
      ),
    } as unknown as Transport;
    const client = createV2Client(
      { mchid: '10000100', appid: 'wxd930ea5d5a258f4f', apiKey: KEY, signType: 'MD5', transferSignType: 'MD5' },
      { transport },
    );
    expect(
      await createV2PayIn({ appid: 'wxd930ea5d5a258f4f', clientIp: '10.0.0.1' }, { client }).tradeBill('2026-12-04'),
    ).toMatchObject(expected);
    expect(sent[0]).toMatchObject({ path: '/pay/downloadbill', bill_date: '20261204', bill_type: 'ALL' });
  });
});
