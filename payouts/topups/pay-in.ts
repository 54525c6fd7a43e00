// WeChat Pay's pay-in side behind one interface (APIv3 by default, APIv2 for merchants still on it):
// an order is created under a number we committed first, paid by its payer, queried, closed when
// unpaid; a paid order is refunded in parts; the day's trade bill lists both. Answers are values; a
// call whose outcome is unknown (network, timeout, an answer that does not verify) throws a retriable
// PipelineError, and the caller asks again with the same number and the same body.
import type { Fen } from '../../common/money.js';
import type { WechatErrorInfo } from '../wechat/errors.js';

export type PayInApi = 'v3' | 'v2';
export type TradeType = 'NATIVE' | 'JSAPI';

/** An order as sent; every field is stored with it (topup_orders), so a create sent again is identical. */
export interface Order {
  outTradeNo: string;
  amountFen: Fen;
  description: string;
  tradeType: TradeType;
  /** When WeChat stops taking payment (time_expire). */
  expiresAt: Date;
  /** JSAPI: the payer's openid under the configured appid. */
  payerOpenid?: string;
  notifyUrl: string;
  /** attach: WeChat returns it in queries, notifications and bills (the campaign id). */
  attach: string;
}

/** WeChat's trade_state words (v2's trade_state is the same vocabulary). */
export type TradeState = 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'REVOKED' | 'USERPAYING' | 'PAYERROR';

/** What WeChat says of an order, from a query or a TRANSACTION notification, normalised across v3 and v2. */
export interface Trade {
  outTradeNo: string;
  tradeState: TradeState;
  mchid: string;
  appid: string;
  /** The order's total, as WeChat has it. */
  totalFen: Fen;
  transactionId?: string;
  payerOpenid?: string;
  successTime?: Date;
  attach?: string;
}

/** A refund as sent (out_refund_no committed first). */
export interface Refund {
  outRefundNo: string;
  outTradeNo: string;
  amountFen: Fen;
  totalFen: Fen;
  reason: string;
  notifyUrl: string;
}
export type RefundStatus = 'SUCCESS' | 'CLOSED' | 'PROCESSING' | 'ABNORMAL';
/** What WeChat says of a refund (create answer, query, or REFUND notification). */
export interface RefundView {
  outRefundNo: string;
  outTradeNo: string;
  status: RefundStatus;
  amountFen: Fen;
  refundId?: string;
  successTime?: Date;
}

/** WeChat refused the call, with its code (signed, or unsigned: then never final; see v3-client.ts). */
export interface Refused {
  ok: false;
  code: string;
  message: string;
  error: WechatErrorInfo;
}
export type PayInAnswer<T> = { ok: true; value: T } | Refused;

/** What the payer's side needs: a QR code's URL (Native), or the parameters wx.requestPayment takes (JSAPI). */
export type Checkout = { tradeType: 'NATIVE'; codeUrl: string } | { tradeType: 'JSAPI'; prepayId: string };
/** wx.requestPayment / WeixinJSBridge getBrandWCPayRequest: signed over appId, timeStamp, nonceStr and package. */
export interface JsapiParams {
  appId: string;
  timeStamp: string;
  nonceStr: string;
  package: string;
  signType: 'RSA' | 'MD5' | 'HMAC-SHA256';
  paySign: string;
}

/** A day's trade bill: its text (WeChat's CSV), none for a day without trades, or not made yet. */
export type TradeBill = { ok: true; text: string } | { ok: false; reason: 'creating' | 'failed'; detail: string };

export interface PayIn {
  api: PayInApi;
  create(order: Order): Promise<PayInAnswer<Checkout>>;
  /** By out_trade_no; ORDER_NOT_EXIST / ORDERNOTEXIST (never created) is a refusal with that code. */
  query(outTradeNo: string): Promise<PayInAnswer<Trade>>;
  /** Asks WeChat to close an unpaid order. Only a query's CLOSED proves it closed. */
  close(outTradeNo: string): Promise<PayInAnswer<void>>;
  refund(refund: Refund): Promise<PayInAnswer<RefundView>>;
  queryRefund(outRefundNo: string): Promise<PayInAnswer<RefundView>>;
  /** The trade bill (bill_type ALL) of China calendar day `day` (yyyy-MM-dd). */
  tradeBill(day: string): Promise<TradeBill>;
  /** The signed parameters for the payer's page, fresh (timestamp, nonce) each time. */
  jsapiParams(prepayId: string): JsapiParams;
}
