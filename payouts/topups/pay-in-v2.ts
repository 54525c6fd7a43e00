// The PayIn interface over APIv2 (reference/wechatpay.md §1, §6, §8), for merchants still on it, and
// the pure readers of its pay notification, order query and refund notification (req_info, AES-256-ECB
// under the MD5 of the API v2 key). As in v3, a shape not WeChat's is undefined, never half a Trade.
import { randomBytes } from 'node:crypto';
import { PipelineError } from '../../common/errors.js';
import { fen, type Fen } from '../../common/money.js';
import type { V2Answer, V2Client } from '../wechat/v2-client.js';
import { decryptV2ReqInfo, parseV2Xml } from '../wechat/v2-protocol.js';
import type { Checkout, PayIn, PayInAnswer, RefundStatus, RefundView, Trade, TradeBill, TradeState } from './pay-in.js';

export interface V2PayInConfig {
  appid: string;
  clientIp: string;
}
export interface V2PayInDeps {
  client: V2Client;
  nowMs?(): number;
}

const TRADE_STATES: readonly TradeState[] = [
  'SUCCESS',
  'REFUND',
  'NOTPAY',
  'CLOSED',
  'REVOKED',
  'USERPAYING',
  'PAYERROR',
];
/** v2's refund words; CHANGE is a refund WeChat could not deliver (v3's ABNORMAL). */
const REFUND_STATES: Readonly<Record<string, RefundStatus>> = {
  SUCCESS: 'SUCCESS',
  REFUNDCLOSE: 'CLOSED',
  PROCESSING: 'PROCESSING',
  CHANGE: 'ABNORMAL',
};
const CHINA_OFFSET_MS = 8 * 3_600_000;

/** v2's time_expire: yyyyMMddHHmmss in China time. */
export const chinaCompact = (d: Date): string =>
  new Date(d.getTime() + CHINA_OFFSET_MS).toISOString().slice(0, 19).replace(/\D/g, '');

/** A China time written yyyyMMddHHmmss (time_end) or yyyy-MM-dd HH:mm:ss (success_time), if it is a real one. */
export function parseChinaTime(text: string | undefined): Date | undefined {
  const m =
    /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(text ?? '') ??
    /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text ?? '');
  if (!m) return undefined;
  const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}`;
  const ms = Date.parse(`${iso}+08:00`);
  if (Number.isNaN(ms) || new Date(ms + CHINA_OFFSET_MS).toISOString().slice(0, 19) !== iso) return undefined;
  return new Date(ms);
}

/** A fee in fen as v2 writes it: digits, no leading zero, a safe integer. */
const fenOf = (text: string | undefined): Fen | undefined =>
  text !== undefined && /^[1-9]\d{0,15}$/.test(text) && Number.isSafeInteger(Number(text)) ? fen(text) : undefined;
const present = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);

/**
 * The pay notification's fields (result_code SUCCESS, no trade_state: a payment) or an orderquery's
 * (trade_state). SUCCESS needs its transaction id and time_end.
 */
export function tradeOfV2(fields: Record<string, string>): Trade | undefined {
  if (fields.return_code !== 'SUCCESS' || fields.result_code !== 'SUCCESS') return undefined;
  const { appid, mch_id: mchid, out_trade_no: outTradeNo } = fields;
  const state = fields.trade_state ?? 'SUCCESS';
  const totalFen = fenOf(fields.total_fee);
  if (
    !present(appid) ||
    !present(mchid) ||
    !present(outTradeNo) ||
    !TRADE_STATES.includes(state as TradeState) ||
    totalFen === undefined
  )
    return undefined;
  if (present(fields.fee_type) && fields.fee_type !== 'CNY') return undefined;
  const transactionId = present(fields.transaction_id);
  const paidAt = present(fields.time_end) ? parseChinaTime(fields.time_end) : undefined;
  if (present(fields.time_end) && !paidAt) return undefined;
  if (state === 'SUCCESS' && (!transactionId || !paidAt)) return undefined;
  const openid = present(fields.openid);
  return {
    outTradeNo: outTradeNo!,
    tradeState: state as TradeState,
    mchid: mchid!,
    appid: appid!,
    totalFen,
    ...(transactionId ? { transactionId } : {}),
    ...(openid ? { payerOpenid: openid } : {}),
    ...(paidAt ? { successTime: paidAt } : {}),
    ...(fields.attach !== undefined ? { attach: fields.attach } : {}),
  };
}

/** A refund notification's decrypted fields (refund_status, refund_fee, success_time), or a query's part in that shape. */
export function refundViewOfV2(fields: Record<string, string>): RefundView | undefined {
  const { out_refund_no: outRefundNo, out_trade_no: outTradeNo } = fields;
  const status = REFUND_STATES[fields.refund_status ?? ''];
  const amountFen = fenOf(fields.refund_fee);
  if (!present(outRefundNo) || !present(outTradeNo) || !status || amountFen === undefined) return undefined;
  if (fields.total_fee !== undefined && fenOf(fields.total_fee) === undefined) return undefined;
  const at = present(fields.success_time) ? parseChinaTime(fields.success_time) : undefined;
  if (present(fields.success_time) && !at) return undefined;
  const refundId = present(fields.refund_id);
  return {
    outRefundNo: outRefundNo!,
    outTradeNo: outTradeNo!,
    status,
    amountFen,
    ...(refundId ? { refundId } : {}),
    ...(at ? { successTime: at } : {}),
  };
}

/** The XML inside a v2 refund notification's req_info (root <root>); undefined when it does not decrypt or parse. */
export function decryptV2RefundInfo(reqInfo: string, apiV2Key: string): Record<string, string> | undefined {
  try {
    const xml = decryptV2ReqInfo(reqInfo, apiV2Key);
    return parseV2Xml(xml, 'root') ?? parseV2Xml(xml);
  } catch {
    return undefined;
  }
}

/** refundquery's part `i` (`refund_status_0`, ...) in the notification's flat shape. */
const refundPart = (f: Record<string, string>, outRefundNo: string): Record<string, string> | undefined => {
  const count = Number(f.refund_count ?? '0');
  for (let i = 0; i < count && i < 50; i += 1) {
    if (f[`out_refund_no_${i}`] !== outRefundNo) continue;
    const part = {
      out_refund_no: outRefundNo,
      out_trade_no: f.out_trade_no,
      refund_id: f[`refund_id_${i}`],
      refund_fee: f[`refund_fee_${i}`],
      refund_status: f[`refund_status_${i}`],
      success_time: f[`refund_success_time_${i}`],
    };
    return Object.fromEntries(Object.entries(part).filter((e): e is [string, string] => e[1] !== undefined));
  }
  return undefined;
};

const badAnswer = (what: string, fields: Record<string, string>) =>
  new PipelineError(
    'wechat_bad_answer',
    `${what} answered an unexpected shape: ${JSON.stringify(fields).slice(0, 200)}`,
    { retriable: true },
  );
const refused = (a: Extract<V2Answer, { ok: false }>) => ({
  ok: false as const,
  code: a.code,
  message: a.message,
  error: a.error,
});
function read<T>(what: string, a: V2Answer, convert: (f: Record<string, string>) => T | undefined): PayInAnswer<T> {
  if (!a.ok) return refused(a);
  const value = convert(a.fields);
  if (value === undefined) throw badAnswer(what, a.fields);
  return { ok: true, value };
}

export function createV2PayIn(config: V2PayInConfig, deps: V2PayInDeps): PayIn {
  const { client } = deps;
  const nowMs = deps.nowMs ?? Date.now;
  return {
    api: 'v2',
    async create(o): Promise<PayInAnswer<Checkout>> {
      if (o.tradeType === 'JSAPI' && !o.payerOpenid)
        throw new PipelineError('topup_without_openid', `JSAPI order ${o.outTradeNo} has no payer openid`, {
          retriable: false,
        });
      const a = await client.unifiedOrder({
        body: o.description,
        out_trade_no: o.outTradeNo,
        total_fee: Number(o.amountFen),
        spbill_create_ip: config.clientIp,
        notify_url: o.notifyUrl,
        // NATIVE needs a product id: the order number, which names what the QR code sells.
        trade_type: o.tradeType,
        ...(o.tradeType === 'JSAPI' ? { openid: o.payerOpenid } : { product_id: o.outTradeNo }),
        time_expire: chinaCompact(o.expiresAt),
        attach: o.attach,
      });
      return read<Checkout>('unifiedorder', a, (f) =>
        o.tradeType === 'NATIVE'
          ? present(f.code_url)
            ? { tradeType: 'NATIVE', codeUrl: f.code_url! }
            : undefined
          : present(f.prepay_id)
            ? { tradeType: 'JSAPI', prepayId: f.prepay_id! }
            : undefined,
      );
    },
    query: async (outTradeNo) => read('orderquery', await client.orderQuery(outTradeNo), tradeOfV2),
    async close(outTradeNo) {
      const a = await client.closeOrder(outTradeNo);
      return a.ok ? { ok: true, value: undefined } : refused(a);
    },
    /** Accepted is all the answer says: PROCESSING until the query or the notification tells. */
    refund: async (r) =>
      read(
        'refund',
        await client.refund({
          out_trade_no: r.outTradeNo,
          out_refund_no: r.outRefundNo,
          total_fee: Number(r.totalFen),
          refund_fee: Number(r.amountFen),
          ...(r.reason ? { refund_desc: r.reason } : {}),
          notify_url: r.notifyUrl,
        }),
        (f) => refundViewOfV2({ ...f, refund_status: 'PROCESSING', success_time: '' }),
      ),
    queryRefund: async (outRefundNo) =>
      read('refundquery', await client.refundQuery(outRefundNo), (f) => {
        const part = refundPart(f, outRefundNo);
        return part && refundViewOfV2(part);
      }),
    /** 20002 ("No Bill Exist") is a day without trades; 20003 ("Bill Creating") not made yet. */
    async tradeBill(day): Promise<TradeBill> {
      const a = await client.downloadBill(day.replaceAll('-', ''), 'ALL');
      if (a.ok) return a;
      if (a.errorCode === '20002') return { ok: true, text: '' };
      return {
        ok: false,
        reason: a.errorCode === '20003' ? 'creating' : 'failed',
        detail: `${a.errorCode} ${a.message}`,
      };
    },
    jsapiParams(prepayId) {
      const fields = {
        appId: config.appid,
        timeStamp: String(Math.floor(nowMs() / 1000)),
        nonceStr: randomBytes(16).toString('hex'),
        package: `prepay_id=${prepayId}`,
      };
      return { ...fields, ...client.paySign(fields) };
    },
  };
}
