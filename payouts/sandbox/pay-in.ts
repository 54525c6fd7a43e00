// The sandbox's APIv3 pay-in endpoints (issue 24 design, "WeChat protocol facts"): Native and JSAPI
// orders checked as WeChat checks them and idempotent by out_trade_no, their query and close, refunds
// and their query. Notifications TRANSACTION.SUCCESS and REFUND.SUCCESS|CLOSED|ABNORMAL carry, once
// decrypted, what the query of that moment answers. The state is trades.ts's, shared with APIv2.
import type { Merchant } from './merchant.js';
import type { Notifier } from './callbacks.js';
import { HTTPS_NOTIFY } from './transfer-bills.js';
import { chinaTime } from './timers.js';
import {
  bodyHash,
  DEFAULT_EXPIRY_MS,
  rfc3339Ms,
  type Order,
  type Refund,
  type RefundRefusal,
  type Trades,
  type TradeType,
} from './trades.js';
import { v3Error, type V3Reply, type V3Request } from './v3-auth.js';

type Json = Record<string, unknown>;
const OUT_TRADE_NO = /^[A-Za-z0-9_\-*|]{6,32}$/;
const OUT_REFUND_NO = /^[A-Za-z0-9_\-*|@]{1,64}$/;
const STATE_DESC: Record<string, string> = {
  SUCCESS: '支付成功',
  REFUND: '转入退款',
  NOTPAY: '订单未支付',
  CLOSED: '订单已关闭',
};
const REFUND_EVENTS: Record<string, [string, string]> = {
  SUCCESS: ['REFUND.SUCCESS', '退款成功'],
  CLOSED: ['REFUND.CLOSED', '退款关闭'],
  ABNORMAL: ['REFUND.ABNORMAL', '退款异常'],
};
const REFUSED: Record<RefundRefusal, V3Reply> = {
  REUSED: v3Error(400, 'INVALID_REQUEST', '退款单号已存在但退款信息不一致'),
  NOT_PAID: v3Error(404, 'RESOURCE_NOT_EXISTS', '订单不存在或未支付'),
  TOTAL_MISMATCH: v3Error(400, 'INVALID_REQUEST', '订单金额与原订单不一致'),
  TOO_MUCH: v3Error(400, 'INVALID_REQUEST', '申请退款金额超过订单可退金额'),
  TOO_MANY: v3Error(400, 'INVALID_REQUEST', '订单退款次数已达上限'),
  NOT_ENOUGH: v3Error(403, 'NOT_ENOUGH', '基本账户余额不足,请充值后重新发起'),
};
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown, max: number) => typeof v === 'string' && v.length >= 1 && v.length <= max;
/** A JSON object body, or undefined. */
const parse = (body: string): Json | undefined => {
  try {
    const b = JSON.parse(body) as unknown;
    return isRecord(b) ? b : undefined;
  } catch {
    return undefined;
  }
};
const notJson = () => v3Error(400, 'PARAM_ERROR', '请求体不是合法的JSON对象');

/** What a query of order `o` answers (and a TRANSACTION notification carries). */
export function transactionView(o: Order, tradeState: string) {
  const paid = o.state === 'SUCCESS';
  const openid = o.payerOpenid ?? o.openid;
  return {
    appid: o.appid,
    mchid: o.mchid,
    out_trade_no: o.outTradeNo,
    ...(paid ? { transaction_id: o.transactionId } : {}),
    trade_type: o.tradeType,
    trade_state: tradeState,
    trade_state_desc: STATE_DESC[tradeState],
    ...(paid ? { bank_type: 'OTHERS', success_time: chinaTime(o.paidAt!) } : {}),
    attach: o.attach,
    ...(openid ? { payer: { openid } } : {}),
    amount: { total: o.totalFen, ...(paid ? { payer_total: o.totalFen } : {}), currency: 'CNY', payer_currency: 'CNY' },
  };
}

/** What a refund's create and query answer. */
export function refundView(r: Refund, o: Order) {
  return {
    refund_id: r.refundId,
    out_refund_no: r.outRefundNo,
    transaction_id: o.transactionId,
    out_trade_no: o.outTradeNo,
    channel: 'ORIGINAL',
    user_received_account: '支付用户零钱',
    ...(r.status === 'SUCCESS' ? { success_time: chinaTime(r.finishedAt!) } : {}),
    create_time: chinaTime(r.createdAt),
    status: r.status,
    funds_account: 'AVAILABLE',
    amount: {
      total: o.totalFen,
      refund: r.amountFen,
      payer_total: o.totalFen,
      payer_refund: r.amountFen,
      settlement_total: o.totalFen,
      settlement_refund: r.amountFen,
      discount_refund: 0,
      currency: 'CNY',
    },
  };
}

/** A create's body checked: an error, or the order's fields. */
function checkOrder(
  b: Json,
  tradeType: TradeType,
  m: Merchant,
  nowMs: number,
): V3Reply | { expiresAt: number; openid?: string } {
  const bad = (message: string) => v3Error(400, 'PARAM_ERROR', message);
  if (b.mchid !== m.config.mchid) return bad('mchid与请求签名的商户号不一致');
  if (b.appid !== m.config.appid) return v3Error(400, 'APPID_MCHID_NOT_MATCH', 'appid和mch_id不匹配');
  if (typeof b.out_trade_no !== 'string' || !OUT_TRADE_NO.test(b.out_trade_no))
    return bad('out_trade_no须为6-32位数字、字母或_-*|');
  if (!text(b.description, 127)) return bad('description长度须为1-127');
  if (b.attach !== undefined && (typeof b.attach !== 'string' || b.attach.length > 128))
    return bad('attach长度不能超过128');
  if (typeof b.notify_url !== 'string' || b.notify_url.length > 255 || !HTTPS_NOTIFY.test(b.notify_url))
    return bad('notify_url格式不正确: 须为https且不带参数');
  const amount = b.amount;
  if (!isRecord(amount) || !Number.isSafeInteger(amount.total) || (amount.total as number) < 1)
    return bad('amount.total须为不小于1的整数(分)');
  if (amount.currency !== undefined && amount.currency !== 'CNY') return bad('amount.currency仅支持CNY');
  let expiresAt = nowMs + DEFAULT_EXPIRY_MS;
  if (b.time_expire !== undefined) {
    const at = rfc3339Ms(b.time_expire);
    if (at === undefined) return bad('time_expire须为rfc3339格式');
    if (at <= nowMs) return bad('time_expire须晚于当前时间');
    expiresAt = at;
  }
  if (tradeType === 'NATIVE') return { expiresAt };
  const openid = isRecord(b.payer) ? b.payer.openid : undefined;
  if (!text(openid, 128)) return bad('JSAPI下单payer.openid必填');
  return { expiresAt, openid: openid as string };
}

export function createPayInSandbox(deps: { merchant: Merchant; trades: Trades; notifier: Notifier; now(): number }) {
  const { merchant: m, trades } = deps;
  const view = (o: Order) => transactionView(o, trades.tradeState(o));
  trades.onAnnounce((a) => {
    if (a.kind === 'paid' && a.order.api === 'v3')
      deps.notifier.notify(a.order.notifyUrl, 'TRANSACTION.SUCCESS', '支付成功', 'transaction', view(a.order));
    if (a.kind !== 'refund' || a.refund.api !== 'v3' || a.refund.status === 'PROCESSING') return;
    const { refund: r, order: o } = a;
    const [event, summary] = REFUND_EVENTS[r.status]!;
    const v = refundView(r, o);
    deps.notifier.notify(r.notifyUrl, event, summary, 'refund', {
      mchid: o.mchid,
      out_trade_no: o.outTradeNo,
      transaction_id: o.transactionId,
      out_refund_no: r.outRefundNo,
      refund_id: r.refundId,
      refund_status: r.status,
      ...(v.success_time ? { success_time: v.success_time } : {}),
      user_received_account: v.user_received_account,
      amount: { total: o.totalFen, refund: r.amountFen, payer_total: o.totalFen, payer_refund: r.amountFen },
    });
  });
  const ours = (q: URLSearchParams) =>
    q.get('mchid') === m.config.mchid
      ? undefined
      : v3Error(400, 'PARAM_ERROR', 'mchid参数缺失或与请求签名的商户号不一致');
  const notExist = () => v3Error(404, 'ORDER_NOT_EXIST', '订单不存在');

  return {
    /** POST /v3/pay/transactions/native | jsapi */
    create(req: V3Request, tradeType: TradeType): V3Reply {
      const b = parse(req.body);
      if (!b) return notJson();
      const checked = checkOrder(b, tradeType, m, deps.now());
      if ('status' in checked) return checked;
      const amount = b.amount as { total: number };
      const got = trades.open({
        outTradeNo: b.out_trade_no as string,
        api: 'v3',
        hash: bodyHash({ tradeType, b }),
        appid: m.config.appid,
        mchid: m.config.mchid,
        tradeType,
        description: b.description as string,
        attach: (b.attach as string | undefined) ?? '',
        notifyUrl: b.notify_url as string,
        totalFen: amount.total,
        expiresAt: checked.expiresAt,
        ...(checked.openid ? { openid: checked.openid } : {}),
      });
      if ('error' in got) {
        if (got.error === 'ORDERPAID') return v3Error(400, 'ORDERPAID', '该订单已支付');
        if (got.error === 'ORDER_CLOSED') return v3Error(400, 'ORDER_CLOSED', '该订单已关闭');
        return v3Error(400, 'INVALID_REQUEST', '商户订单号重复,且与原订单信息不一致');
      }
      return {
        status: 200,
        body: tradeType === 'NATIVE' ? { code_url: got.order.codeUrl } : { prepay_id: got.order.prepayId },
      };
    },

    /** GET …/out-trade-no/{no}?mchid= and …/id/{transaction_id}?mchid= */
    get(by: { out_trade_no?: string; transaction_id?: string }, q: URLSearchParams): V3Reply {
      const o = trades.find(by);
      return ours(q) ?? (o ? { status: 200, body: view(o) } : notExist());
    },

    /** POST …/out-trade-no/{no}/close {mchid}: 204, also for one already closed; ORDERPAID for a paid one. */
    close(outTradeNo: string, body: string): V3Reply {
      const b = parse(body);
      if (!b) return notJson();
      if (b.mchid !== m.config.mchid) return v3Error(400, 'PARAM_ERROR', 'mchid与请求签名的商户号不一致');
      const o = trades.find({ out_trade_no: outTradeNo });
      if (!o) return notExist();
      return trades.close(o) ? v3Error(400, 'ORDERPAID', '该订单已支付,不能关闭') : { status: 204 };
    },

    /** POST /v3/refund/domestic/refunds: PROCESSING, then the outcome a step later. */
    refund(req: V3Request): V3Reply {
      const b = parse(req.body);
      if (!b) return notJson();
      const bad = (message: string) => v3Error(400, 'PARAM_ERROR', message);
      if (typeof b.out_refund_no !== 'string' || !OUT_REFUND_NO.test(b.out_refund_no))
        return bad('out_refund_no须为1-64位数字、字母或_-|*@');
      if (!text(b.out_trade_no, 32) && !text(b.transaction_id, 32)) return bad('out_trade_no与transaction_id须二选一');
      if (b.reason !== undefined && (typeof b.reason !== 'string' || b.reason.length > 80))
        return bad('reason长度不能超过80');
      if (b.notify_url !== undefined && (typeof b.notify_url !== 'string' || !HTTPS_NOTIFY.test(b.notify_url)))
        return bad('notify_url格式不正确: 须为https且不带参数');
      const amount = b.amount;
      if (
        !isRecord(amount) ||
        !Number.isSafeInteger(amount.refund) ||
        !Number.isSafeInteger(amount.total) ||
        amount.currency !== 'CNY'
      )
        return bad('amount须含整数refund、total与currency(CNY)');
      const got = trades.refund({
        outRefundNo: b.out_refund_no,
        api: 'v3',
        hash: bodyHash(b),
        amountFen: amount.refund as number,
        totalFen: amount.total as number,
        ...(typeof b.out_trade_no === 'string'
          ? { outTradeNo: b.out_trade_no }
          : { transactionId: b.transaction_id as string }),
        ...(b.notify_url ? { notifyUrl: b.notify_url as string } : {}),
        ...(b.reason ? { reason: b.reason as string } : {}),
      });
      return 'error' in got
        ? REFUSED[got.error]
        : { status: 200, body: refundView(got.refund, trades.orders.get(got.refund.outTradeNo)!) };
    },

    /** GET /v3/refund/domestic/refunds/{out_refund_no} */
    getRefund(outRefundNo: string): V3Reply {
      const r = trades.refunds.get(outRefundNo);
      return r
        ? { status: 200, body: refundView(r, trades.orders.get(r.outTradeNo)!) }
        : v3Error(404, 'RESOURCE_NOT_EXISTS', '退款单不存在');
    },
  };
}
