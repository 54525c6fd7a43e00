// The sandbox's APIv2 pay-in endpoints (reference/wechatpay.md §1, §8): pay/unifiedorder (NATIVE,
// JSAPI), orderquery, closeorder, secapi/pay/refund (mutual TLS) and refundquery, on the same orders
// and refunds as APIv3 (trades.ts). Requests are verified with the merchant's v2 key by the algorithm
// they declare, and answered signed the same way. A v2 order's payment is notified in signed XML; a
// v2 refund's outcome in req_info, AES-256-ECB under the MD5 of the key.
import { randomBytes } from 'node:crypto';
import {
  declaredSignType,
  encryptV2ReqInfo,
  parseV2Xml,
  signV2,
  toV2Xml,
  verifyV2,
  type V2SignType,
} from '../wechat/v2-protocol.js';
import type { Notifier } from './callbacks.js';
import type { Merchant } from './merchant.js';
import {
  bodyHash,
  DEFAULT_EXPIRY_MS,
  type Order,
  type Refund,
  type RefundRefusal,
  type Trades,
  type TradeType,
} from './trades.js';

type Fields = Record<string, string>;
const OUT_TRADE_NO = /^[A-Za-z0-9_\-*|@]{1,32}$/;
const OUT_REFUND_NO = /^[A-Za-z0-9_\-*|@]{1,64}$/;
const FEN = /^[1-9]\d{0,15}$/;
const NOTIFY = /^https?:\/\/[^?#\s]+$/;
const STATE_DESC: Record<string, string> = {
  SUCCESS: '支付成功',
  REFUND: '转入退款',
  NOTPAY: '订单未支付',
  CLOSED: '订单已关闭',
};
/** v2's words for a refund's status. */
const REFUND_STATUS: Record<string, string> = {
  PROCESSING: 'PROCESSING',
  SUCCESS: 'SUCCESS',
  CLOSED: 'REFUNDCLOSE',
  ABNORMAL: 'CHANGE',
};
const REFUSED: Record<RefundRefusal, [string, string]> = {
  REUSED: ['INVALID_REQUEST', '退款单号已存在但退款信息不一致'],
  NOT_PAID: ['ORDERNOTEXIST', '订单不存在或未支付'],
  TOTAL_MISMATCH: ['INVALID_REQUEST', '订单金额与原订单不一致'],
  TOO_MUCH: ['ERROR', '申请退款金额超过订单可退金额'],
  TOO_MANY: ['ERROR', '订单退款次数已达上限'],
  NOT_ENOUGH: ['NOTENOUGH', '基本账户余额不足,请充值后重新发起'],
};
/** yyyyMMddHHmmss in China time (time_end, time_expire), and its ms; yyyy-MM-dd HH:mm:ss (success_time). */
const compact = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 19).replace(/\D/g, '');
const spaced = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
function compactMs(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(text);
  const ms = m ? Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}+08:00`) : NaN;
  return Number.isNaN(ms) || compact(ms) !== text ? undefined : ms;
}
const defined = (f: Record<string, string | number | undefined>) =>
  Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined && v !== '')) as Record<
    string,
    string | number
  >;

export function createPayInV2Sandbox(deps: { merchant: Merchant; trades: Trades; notifier: Notifier; now(): number }) {
  const { merchant: m, trades } = deps;
  const key = m.config.apiV2Key;
  /** A request that did not get through: return_code FAIL and a message, unsigned, as WeChat answers. */
  const refuse = (msg: string, errCode?: string) =>
    toV2Xml({ return_code: 'FAIL', return_msg: msg, ...(errCode ? { err_code: errCode } : {}) });
  const base = () => ({
    return_code: 'SUCCESS',
    return_msg: 'OK',
    appid: m.config.appid,
    mch_id: m.config.mchid,
    nonce_str: randomBytes(16).toString('hex'),
  });
  const signed = (fields: Record<string, string | number | undefined>, type: V2SignType) => {
    const all = defined(fields);
    return toV2Xml({ ...all, sign: signV2(all, key, type) });
  };
  const ok = (type: V2SignType, fields: Record<string, string | number | undefined>) =>
    signed({ ...base(), result_code: 'SUCCESS', ...fields }, type);
  const fail = (type: V2SignType, code: string, des: string) =>
    signed({ ...base(), result_code: 'FAIL', err_code: code, err_code_des: des }, type);

  /** Parsed, verified and ours: the fields and the signature type, or the XML refusing the request. */
  function admit(body: string, certified = true): { p: Fields; type: V2SignType } | string {
    if (!certified) return refuse('请求未携带证书或证书错误', 'CA_ERROR');
    const p = parseV2Xml(body);
    if (!p) return refuse('XML格式错误');
    const type = declaredSignType(p);
    if (!verifyV2(p, key, type)) return refuse('签名错误');
    if (p.mch_id !== m.config.mchid) return refuse('mch_id与签名商户不一致');
    return { p, type };
  }
  /** The order a request names, or the XML answering that there is none. */
  const orderOf = (p: Fields, type: V2SignType): Order | string =>
    (p.out_trade_no || p.transaction_id
      ? trades.find({ out_trade_no: p.out_trade_no, transaction_id: p.transaction_id })
      : undefined) ?? fail(type, 'ORDERNOTEXIST', '此交易订单号不存在');

  /** An order as orderquery answers it (and, paid, as its notification carries it). */
  const orderFields = (o: Order) => {
    const state = trades.tradeState(o);
    const paid = o.state === 'SUCCESS';
    return {
      out_trade_no: o.outTradeNo,
      trade_state: state,
      trade_state_desc: STATE_DESC[state],
      total_fee: o.totalFen,
      fee_type: 'CNY',
      trade_type: o.tradeType,
      attach: o.attach,
      openid: o.payerOpenid ?? o.openid,
      ...(paid
        ? {
            is_subscribe: 'N',
            bank_type: 'OTHERS',
            cash_fee: o.totalFen,
            transaction_id: o.transactionId,
            time_end: compact(o.paidAt!),
          }
        : {}),
    };
  };
  const refundFields = (r: Refund, o: Order) => ({
    transaction_id: o.transactionId,
    out_trade_no: o.outTradeNo,
    refund_id: r.refundId,
    out_refund_no: r.outRefundNo,
    total_fee: o.totalFen,
    settlement_total_fee: o.totalFen,
    refund_fee: r.amountFen,
    settlement_refund_fee: r.amountFen,
    refund_status: REFUND_STATUS[r.status]!,
    ...(r.status === 'SUCCESS' ? { success_time: spaced(r.finishedAt!) } : {}),
    refund_recv_accout: '支付用户零钱',
    refund_account: 'REFUND_SOURCE_UNSETTLED_FUNDS',
    refund_request_source: 'API',
  });

  trades.onAnnounce((a) => {
    if (a.kind === 'paid' && a.order.api === 'v2') {
      const type = a.order.signType ?? 'MD5';
      const { trade_state: _s, trade_state_desc: _d, ...paid } = orderFields(a.order);
      deps.notifier.notifyXml(
        a.order.notifyUrl,
        signed(
          {
            ...base(),
            return_msg: undefined,
            result_code: 'SUCCESS',
            ...(type === 'MD5' ? {} : { sign_type: type }),
            ...paid,
          },
          type,
        ),
      );
    }
    if (a.kind === 'refund' && a.refund.api === 'v2' && a.refund.status !== 'PROCESSING') {
      const inner = toV2Xml(defined(refundFields(a.refund, a.order)))
        .replace(/^<xml>/, '<root>')
        .replace(/<\/xml>$/, '</root>');
      const { return_msg: _m, ...head } = base();
      deps.notifier.notifyXml(a.refund.notifyUrl, toV2Xml({ ...head, req_info: encryptV2ReqInfo(inner, key) }));
    }
  });

  return {
    /** A signed business refusal of a request that got through (a fault: FREQUENCY_LIMITED). */
    refused(body: string, code: string, des: string): string {
      const got = admit(body);
      return typeof got === 'string' ? got : fail(got.type, code, des);
    },

    /** POST /pay/unifiedorder: NATIVE (code_url, product_id required) or JSAPI (prepay_id, openid required). */
    unifiedOrder(body: string): string {
      const got = admit(body);
      if (typeof got === 'string') return got;
      const { p, type } = got;
      const bad = (code: string, des: string) => fail(type, code, des);
      if (p.appid !== m.config.appid) return bad('APPID_MCHID_NOT_MATCH', 'appid和mch_id不匹配');
      const required = [
        'body',
        'out_trade_no',
        'total_fee',
        'spbill_create_ip',
        'notify_url',
        'trade_type',
        ...(p.trade_type === 'JSAPI' ? ['openid'] : p.trade_type === 'NATIVE' ? ['product_id'] : []),
      ];
      const missing = required.find((k) => !p[k]);
      if (missing) return bad('LACK_PARAMS', `缺少参数${missing}`);
      if (p.trade_type !== 'NATIVE' && p.trade_type !== 'JSAPI')
        return bad('PARAM_ERROR', 'trade_type仅支持NATIVE与JSAPI');
      if (!OUT_TRADE_NO.test(p.out_trade_no!)) return bad('PARAM_ERROR', 'out_trade_no格式不正确');
      if (p.body!.length > 128 || (p.attach ?? '').length > 127) return bad('PARAM_ERROR', 'body或attach超长');
      if (!FEN.test(p.total_fee!) || !Number.isSafeInteger(Number(p.total_fee)))
        return bad('PARAM_ERROR', 'total_fee须为正整数(分)');
      if ((p.fee_type ?? 'CNY') !== 'CNY') return bad('PARAM_ERROR', 'fee_type仅支持CNY');
      if (!NOTIFY.test(p.notify_url!) || p.notify_url!.length > 256)
        return bad('PARAM_ERROR', 'notify_url格式不正确: 不能携带参数');
      const now = deps.now();
      let expiresAt = now + DEFAULT_EXPIRY_MS;
      if (p.time_expire) {
        const at = compactMs(p.time_expire);
        if (at === undefined || at <= now) return bad('PARAM_ERROR', 'time_expire格式不正确或早于当前时间');
        expiresAt = at;
      }
      const { nonce_str: _n, sign: _s, sign_type: _t, ...params } = p;
      const got2 = trades.open({
        outTradeNo: p.out_trade_no!,
        api: 'v2',
        hash: bodyHash(params),
        signType: type,
        appid: p.appid!,
        mchid: p.mch_id!,
        tradeType: p.trade_type as TradeType,
        description: p.body!,
        attach: p.attach ?? '',
        notifyUrl: p.notify_url!,
        totalFen: Number(p.total_fee),
        expiresAt,
        ...(p.trade_type === 'JSAPI' ? { openid: p.openid! } : {}),
      });
      if ('error' in got2) {
        if (got2.error === 'ORDERPAID') return bad('ORDERPAID', '该订单已支付');
        if (got2.error === 'ORDER_CLOSED') return bad('ORDERCLOSED', '该订单已关闭');
        return bad('OUT_TRADE_NO_USED', '商户订单号重复');
      }
      return ok(type, {
        trade_type: got2.order.tradeType,
        prepay_id: got2.order.prepayId,
        code_url: got2.order.codeUrl,
      });
    },

    /** POST /pay/orderquery, by out_trade_no or transaction_id. */
    orderQuery(body: string): string {
      const got = admit(body);
      if (typeof got === 'string') return got;
      const o = orderOf(got.p, got.type);
      return typeof o === 'string' ? o : ok(got.type, orderFields(o));
    },

    /** POST /pay/closeorder: ORDERPAID on a paid order, ORDERCLOSED on a closed one. */
    closeOrder(body: string): string {
      const got = admit(body);
      if (typeof got === 'string') return got;
      const o = orderOf(got.p, got.type);
      if (typeof o === 'string') return o;
      if (o.state === 'CLOSED') return fail(got.type, 'ORDERCLOSED', '订单已关闭');
      return trades.close(o) ? fail(got.type, 'ORDERPAID', '订单已支付') : ok(got.type, { result_msg: 'OK' });
    },

    /** POST /secapi/pay/refund (client certificate required): accepted is PROCESSING; the notification or refundquery tells the end. */
    refund(body: string, certified: boolean): string {
      const got = admit(body, certified);
      if (typeof got === 'string') return got;
      const { p, type } = got;
      const bad = (code: string, des: string) => fail(type, code, des);
      if (p.appid !== m.config.appid) return bad('APPID_MCHID_NOT_MATCH', 'appid和mch_id不匹配');
      if (!p.out_trade_no && !p.transaction_id) return bad('LACK_PARAMS', 'out_trade_no与transaction_id须二选一');
      if (!OUT_REFUND_NO.test(p.out_refund_no ?? '')) return bad('PARAM_ERROR', 'out_refund_no格式不正确');
      if (!FEN.test(p.total_fee ?? '') || !FEN.test(p.refund_fee ?? ''))
        return bad('PARAM_ERROR', 'total_fee与refund_fee须为正整数(分)');
      if (p.notify_url && !NOTIFY.test(p.notify_url)) return bad('PARAM_ERROR', 'notify_url格式不正确: 不能携带参数');
      const { nonce_str: _n, sign: _s, sign_type: _t, ...params } = p;
      const done = trades.refund({
        outRefundNo: p.out_refund_no!,
        api: 'v2',
        hash: bodyHash(params),
        signType: type,
        amountFen: Number(p.refund_fee),
        totalFen: Number(p.total_fee),
        ...(p.out_trade_no ? { outTradeNo: p.out_trade_no } : { transactionId: p.transaction_id! }),
        ...(p.notify_url ? { notifyUrl: p.notify_url } : {}),
        ...(p.refund_desc ? { reason: p.refund_desc } : {}),
      });
      if ('error' in done) return bad(...REFUSED[done.error]);
      const { refund: r } = done;
      const o = trades.orders.get(r.outTradeNo)!;
      return ok(type, {
        transaction_id: o.transactionId,
        out_trade_no: o.outTradeNo,
        out_refund_no: r.outRefundNo,
        refund_id: r.refundId,
        refund_fee: r.amountFen,
        settlement_refund_fee: r.amountFen,
        total_fee: o.totalFen,
        cash_fee: o.totalFen,
        cash_refund_fee: r.amountFen,
      });
    },

    /** POST /pay/refundquery by refund_id, out_refund_no (that refund), transaction_id or out_trade_no (all of the order's). */
    refundQuery(body: string): string {
      const got = admit(body);
      if (typeof got === 'string') return got;
      const { p, type } = got;
      const one = p.refund_id
        ? [...trades.refunds.values()].find((r) => r.refundId === p.refund_id)
        : p.out_refund_no
          ? trades.refunds.get(p.out_refund_no)
          : undefined;
      const order = one
        ? trades.orders.get(one.outTradeNo)
        : trades.find({ out_trade_no: p.out_trade_no, transaction_id: p.transaction_id });
      const list = one ? [one] : order && !p.refund_id && !p.out_refund_no ? trades.refundsOf(order.outTradeNo) : [];
      if (!order || list.length === 0) return fail(type, 'REFUNDNOTEXIST', '退款订单查询失败');
      const parts = list.flatMap((r, i) => {
        const f = refundFields(r, order);
        return Object.entries({
          out_refund_no: f.out_refund_no,
          refund_id: f.refund_id,
          refund_channel: 'ORIGINAL',
          refund_fee: f.refund_fee,
          settlement_refund_fee: f.settlement_refund_fee,
          refund_status: f.refund_status,
          refund_account: f.refund_account,
          refund_recv_accout: f.refund_recv_accout,
          refund_success_time: f.success_time,
        }).map(([k, v]) => [`${k}_${i}`, v] as const);
      });
      return ok(type, {
        transaction_id: order.transactionId,
        out_trade_no: order.outTradeNo,
        total_fee: order.totalFen,
        cash_fee: order.totalFen,
        fee_type: 'CNY',
        refund_count: list.length,
        ...(one ? {} : { total_refund_count: list.length }),
        refund_fee: list.reduce((n, r) => n + r.amountFen, 0),
        ...Object.fromEntries(parts),
      });
    },
  };
}
