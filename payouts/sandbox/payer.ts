// The simulated payer (admin route POST /sandbox/pay; the sandbox has no WeChat app to pay with): it
// names the order by out_trade_no, the code_url it scanned, the prepay_id, or the wx.requestPayment
// parameters the merchant's page handed it, whose paySign is checked as WeChat checks it (RSA with
// the merchant certificate's key for a v3 order, the v2 sign for a v2 one), and pays it (trades.ts).
import type { KeyObject } from 'node:crypto';
import { verifyV2, type V2SignType } from '../wechat/v2-protocol.js';
import { verifyJsapiPaySign } from '../wechat/v3-crypto.js';
import type { Trades } from './trades.js';

export interface PayerKeys {
  appid: string;
  apiV2Key: string;
  merchantKey: KeyObject;
}
type Json = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** The prepay_id whose payment `jsapi` signs, or undefined when the parameters are not the merchant's. */
function jsapiPrepayId(trades: Trades, jsapi: unknown, keys: PayerKeys): string | undefined {
  if (typeof jsapi !== 'object' || jsapi === null) return undefined;
  const j = jsapi as Json;
  const [appId, timeStamp, nonceStr, pkg, signType, paySign] = [
    j.appId,
    j.timeStamp,
    j.nonceStr,
    j.package,
    j.signType,
    j.paySign,
  ].map(str);
  const prepayId = /^prepay_id=(.+)$/.exec(pkg ?? '')?.[1];
  if (!appId || !timeStamp || !nonceStr || !pkg || !signType || !paySign || !prepayId || appId !== keys.appid)
    return undefined;
  const order = trades.find({ prepay_id: prepayId });
  const fields = { appId, timeStamp, nonceStr, package: pkg };
  const valid =
    signType === 'RSA'
      ? order?.api !== 'v2' && verifyJsapiPaySign(keys.merchantKey, fields, paySign)
      : order?.api !== 'v3' &&
        (signType === 'MD5' || signType === 'HMAC-SHA256') &&
        verifyV2({ ...fields, signType, sign: paySign }, keys.apiV2Key, signType as V2SignType);
  return valid ? prepayId : undefined;
}

/** POST /sandbox/pay {out_trade_no | code_url | prepay_id | jsapi, openid?, after_close?}: [status, body]. */
export function payOrder(trades: Trades, input: Json, keys: PayerKeys): [number, unknown] {
  let prepayId = str(input.prepay_id);
  if (input.jsapi !== undefined) {
    prepayId = jsapiPrepayId(trades, input.jsapi, keys);
    if (!prepayId) return [400, { error: 'PAY_SIGN_INVALID' }];
  }
  const by = { out_trade_no: str(input.out_trade_no), code_url: str(input.code_url), prepay_id: prepayId };
  if (!by.out_trade_no && !by.code_url && !by.prepay_id)
    return [400, { error: 'name the order: out_trade_no, code_url, prepay_id or jsapi' }];
  const got = trades.pay(trades.find(by), { openid: str(input.openid), afterClose: input.after_close === true });
  if ('error' in got) return [got.error === 'ORDER_NOT_EXIST' ? 404 : 409, { error: got.error }];
  const o = got.order;
  return [
    200,
    {
      out_trade_no: o.outTradeNo,
      transaction_id: o.transactionId,
      trade_state: trades.tradeState(o),
      openid: o.payerOpenid,
    },
  ];
}
