// Pay-in notifications with a fake apply: answered only after the apply committed (500 / FAIL when it
// could not be, so WeChat sends it again), acknowledged when they name nothing known here, refused
// when they do not verify; the payouts' own v3 events are left to the payouts routes.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.js';
import { fen } from '../../common/money.js';
import { encryptV2ReqInfo, parseV2Xml, signV2, toV2Xml } from '../wechat/v2-protocol.js';
import { createTopupNotifications } from './notify.js';
import type { RefundView, Trade } from './pay-in.js';

const KEY = 'k'.repeat(32);
function world(outcome: 'known' | 'unknown' | 'db_down' = 'known') {
  const applied: (Trade | RefundView)[] = [];
  const counted: string[] = [];
  const apply = async (w: Trade | RefundView) => {
    if (outcome === 'db_down') throw new Error('connection terminated');
    applied.push(w);
    return { known: outcome === 'known' };
  };
  const notify = createTopupNotifications(
    { apiV2Key: KEY, v2SignType: 'HMAC-SHA256' },
    {
      applyTrade: apply,
      applyRefund: apply,
      log: createLogger('test', 'silent'),
      metrics: { topupNotification: (kind, result) => void counted.push(`${kind} ${result}`) },
    },
  );
  return { notify, applied, counted };
}
const transaction = {
  appid: 'wxA',
  mchid: 'M1',
  out_trade_no: 'T1',
  transaction_id: '4200001',
  trade_type: 'NATIVE',
  trade_state: 'SUCCESS',
  success_time: '2031-03-01T12:00:00+08:00',
  amount: { total: 500, payer_total: 500, currency: 'CNY', payer_currency: 'CNY' },
  payer: { openid: 'oPayer' },
};
const refund = {
  mchid: 'M1',
  out_trade_no: 'T1',
  transaction_id: '4200001',
  out_refund_no: 'R1',
  refund_id: '5030001',
  refund_status: 'SUCCESS',
  success_time: '2031-03-02T12:00:00+08:00',
  amount: { total: 500, refund: 300, payer_total: 500, payer_refund: 300 },
};
const payXml = (over: Record<string, string> = {}, signType: 'HMAC-SHA256' | 'MD5' = 'HMAC-SHA256') => {
  const f = {
    return_code: 'SUCCESS',
    result_code: 'SUCCESS',
    appid: 'wxA',
    mch_id: 'M1',
    nonce_str: 'n1',
    openid: 'oPayer',
    trade_type: 'NATIVE',
    total_fee: '500',
    cash_fee: '500',
    transaction_id: '4200001',
    out_trade_no: 'T1',
    attach: 'c-1',
    time_end: '20310301120000',
    sign_type: signType,
    ...over,
  };
  return toV2Xml({ ...f, sign: signV2(f, KEY, signType) });
};
const refundXml = (key = KEY) =>
  toV2Xml({
    return_code: 'SUCCESS',
    appid: 'wxA',
    mch_id: 'M1',
    nonce_str: 'n2',
    req_info: encryptV2ReqInfo(
      toV2Xml({
        out_refund_no: 'R1',
        out_trade_no: 'T1',
        refund_id: '5030001',
        refund_fee: '300',
        total_fee: '500',
        refund_status: 'SUCCESS',
        success_time: '2031-03-02 12:00:00',
      }).replace(/^<xml>|<\/xml>$/g, (t) => (t === '<xml>' ? '<root>' : '</root>')),
      key,
    ),
  });
const code = (body: unknown) => parseV2Xml(String(body))?.return_code;

describe('v3', () => {
  it.each([
    ['a payment is applied, then answered 204', 'TRANSACTION.SUCCESS', transaction, 'known', 204, 'v3_pay applied'],
    ['a refund outcome is applied, then answered 204', 'REFUND.SUCCESS', refund, 'known', 204, 'v3_refund applied'],
    [
      'one naming an order unknown here is acknowledged',
      'TRANSACTION.SUCCESS',
      transaction,
      'unknown',
      204,
      'v3_pay unknown_reference',
    ],
    [
      'one not recorded (Postgres away) is answered 500, to come again',
      'TRANSACTION.SUCCESS',
      transaction,
      'db_down',
      500,
      'v3_pay failed',
    ],
    [
      'a verified resource of another shape is acknowledged, never applied',
      'TRANSACTION.SUCCESS',
      { ...transaction, amount: { total: -1 } },
      'known',
      204,
      'v3_pay unreadable',
    ],
  ] as const)('%s', async (_name, event, resource, outcome, status, counted) => {
    const w = world(outcome);
    expect((await w.notify.v3(event, resource as unknown as Record<string, unknown>))?.status).toBe(status);
    expect(w.counted).toEqual([counted]);
  });

  it('reads the trade and refund it applies', async () => {
    const w = world();
    await w.notify.v3('TRANSACTION.SUCCESS', transaction);
    await w.notify.v3('REFUND.ABNORMAL', { ...refund, refund_status: 'ABNORMAL' });
    expect(w.applied).toEqual([
      {
        outTradeNo: 'T1',
        tradeState: 'SUCCESS',
        mchid: 'M1',
        appid: 'wxA',
        totalFen: fen(500),
        transactionId: '4200001',
        payerOpenid: 'oPayer',
        successTime: new Date('2031-03-01T04:00:00Z'),
      },
      {
        outRefundNo: 'R1',
        outTradeNo: 'T1',
        status: 'ABNORMAL',
        amountFen: fen(300),
        refundId: '5030001',
        successTime: new Date('2031-03-02T04:00:00Z'),
      },
    ]);
  });

  it("leaves the payouts' own events to the payouts routes", async () => {
    expect(await world().notify.v3('MCHTRANSFER.BILL.FINISHED', { out_bill_no: 'B1' })).toBeUndefined();
  });
});

describe('v2', () => {
  it.each([
    ['a signed payment is applied, then answered SUCCESS', payXml(), 'known', 200, 'SUCCESS', ['v2_pay applied']],
    ['one not recorded is answered FAIL, to come again', payXml(), 'db_down', 500, 'FAIL', ['v2_pay failed']],
    [
      'one signed with another type than configured is refused',
      payXml({}, 'MD5'),
      'known',
      200,
      'FAIL',
      ['v2_pay rejected'],
    ],
    [
      'one with a forged sign is refused',
      payXml().replace(/(<total_fee>(?:<!\[CDATA\[)?)500/, '$11'),
      'known',
      200,
      'FAIL',
      ['v2_pay rejected'],
    ],
    [
      'a failed payment changes nothing',
      payXml({ result_code: 'FAIL', err_code: 'BANKERROR' }),
      'known',
      200,
      'SUCCESS',
      [],
    ],
  ] as const)('pay: %s', async (_name, xml, outcome, status, answer, counted) => {
    const w = world(outcome);
    const res = await w.notify.v2Pay(xml);
    expect([res.status, code(res.body)]).toEqual([status, answer]);
    expect(w.counted).toEqual(counted);
  });

  it('applies a refund whose req_info opens under our key, and refuses one that does not', async () => {
    const w = world();
    expect(code((await w.notify.v2Refund(refundXml())).body)).toBe('SUCCESS');
    expect(w.applied).toEqual([
      {
        outRefundNo: 'R1',
        outTradeNo: 'T1',
        status: 'SUCCESS',
        amountFen: fen(300),
        refundId: '5030001',
        successTime: new Date('2031-03-02T04:00:00Z'),
      },
    ]);
    expect(code((await w.notify.v2Refund(refundXml('x'.repeat(32)))).body)).toBe('FAIL');
    expect(w.counted).toEqual(['v2_refund applied', 'v2_refund rejected']);
  });
});
