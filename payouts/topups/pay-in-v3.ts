// The PayIn interface over APIv3 (Native and JSAPI orders, refunds, the trade bill), and the pure
// readers of what WeChat says of an order or a refund, shared by queries and notifications: an answer
// of another shape is no answer (undefined), never a half-filled Trade that could credit money.
import { randomBytes } from 'node:crypto';
import { PipelineError } from '../../common/errors.js';
import { fen } from '../../common/money.js';
import type { PayOrder, V3Answer, V3Client } from '../wechat/v3-client.js';
import type {
  Checkout,
  Order,
  PayIn,
  PayInAnswer,
  Refund,
  RefundStatus,
  RefundView,
  Trade,
  TradeBill,
  TradeState,
} from './pay-in.js';

export interface V3PayInConfig {
  appid: string;
  mchid: string;
}
export interface V3PayInDeps {
  client: V3Client;
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
const REFUND_STATES: readonly RefundStatus[] = ['SUCCESS', 'CLOSED', 'PROCESSING', 'ABNORMAL'];
const CHINA_OFFSET_MS = 8 * 3_600_000;

/** WeChat's time_expire: RFC 3339 to the second in China time, e.g. 2026-12-04T18:30:00+08:00. */
export const chinaRfc3339 = (d: Date): string =>
  `${new Date(d.getTime() + CHINA_OFFSET_MS).toISOString().slice(0, 19)}+08:00`;

/** An RFC 3339 time with its offset, whose fields are a real date (no 31 February); else undefined. */
export function parseRfc3339(text: unknown): Date | undefined {
  const m =
    typeof text === 'string'
      ? /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d{1,9})?(Z|([+-])(\d{2}):(\d{2}))$/.exec(text)
      : null;
  if (!m) return undefined;
  const offsetMs = m[2] === 'Z' ? 0 : (m[3] === '-' ? -1 : 1) * (Number(m[4]) * 60 + Number(m[5])) * 60_000;
  const ms = Date.parse(text as string);
  if (Number.isNaN(ms) || new Date(ms + offsetMs).toISOString().slice(0, 19) !== m[1]) return undefined;
  return new Date(ms);
}

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v !== '';
/** An amount in fen as WeChat's JSON writes it: a positive safe integer (read in with fen()). */
export const isFen = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
/** An optional text field: absent or '' is none, any other non-string is a wrong shape. */
const optionalText = (v: unknown): { ok: true; value?: string } | { ok: false } =>
  v === undefined || v === '' ? { ok: true } : typeof v === 'string' ? { ok: true, value: v } : { ok: false };
const optionalTime = (v: unknown): { ok: true; value?: Date } | { ok: false } => {
  if (v === undefined || v === '') return { ok: true };
  const d = parseRfc3339(v);
  return d ? { ok: true, value: d } : { ok: false };
};

/** A query's answer or a TRANSACTION notification's resource; SUCCESS needs its transaction id and time. */
export function tradeOf(resource: unknown): Trade | undefined {
  if (!isRecord(resource)) return undefined;
  const { appid, mchid, out_trade_no: outTradeNo, trade_state: state, amount, payer, attach } = resource;
  if (!isText(appid) || !isText(mchid) || !isText(outTradeNo) || !TRADE_STATES.includes(state as TradeState))
    return undefined;
  if (!isRecord(amount) || !isFen(amount.total) || (amount.currency !== undefined && amount.currency !== 'CNY'))
    return undefined;
  if (payer !== undefined && !isRecord(payer)) return undefined;
  const transactionId = optionalText(resource.transaction_id);
  const openid = optionalText(isRecord(payer) ? payer.openid : undefined);
  const paidAt = optionalTime(resource.success_time);
  if (!transactionId.ok || !openid.ok || !paidAt.ok || (attach !== undefined && typeof attach !== 'string'))
    return undefined;
  if (state === 'SUCCESS' && (!transactionId.value || !paidAt.value)) return undefined;
  return {
    outTradeNo,
    tradeState: state as TradeState,
    mchid,
    appid,
    totalFen: fen(amount.total),
    ...(transactionId.value ? { transactionId: transactionId.value } : {}),
    ...(openid.value ? { payerOpenid: openid.value } : {}),
    ...(paidAt.value ? { successTime: paidAt.value } : {}),
    ...(attach !== undefined ? { attach } : {}),
  };
}

/** A refund's create answer or query (`status`), or a REFUND notification's resource (`refund_status`). */
export function refundViewOf(resource: unknown): RefundView | undefined {
  if (!isRecord(resource)) return undefined;
  const { out_refund_no: outRefundNo, out_trade_no: outTradeNo, amount, status, refund_status: notified } = resource;
  const word = status ?? notified;
  if (
    !isText(outRefundNo) ||
    !isText(outTradeNo) ||
    (status !== undefined && notified !== undefined && status !== notified)
  )
    return undefined;
  if (!REFUND_STATES.includes(word as RefundStatus)) return undefined;
  if (
    !isRecord(amount) ||
    !isFen(amount.refund) ||
    (amount.total !== undefined && !isFen(amount.total)) ||
    (amount.currency !== undefined && amount.currency !== 'CNY')
  )
    return undefined;
  const refundId = optionalText(resource.refund_id);
  const at = optionalTime(resource.success_time);
  if (!refundId.ok || !at.ok) return undefined;
  return {
    outRefundNo,
    outTradeNo,
    status: word as RefundStatus,
    amountFen: fen(amount.refund),
    ...(refundId.value ? { refundId: refundId.value } : {}),
    ...(at.value ? { successTime: at.value } : {}),
  };
}

/** A signed 2xx whose body is not what WeChat sends: the outcome is unknown, so ask again (same number). */
const badAnswer = (what: string, data: unknown) =>
  new PipelineError(
    'wechat_bad_answer',
    `${what} answered an unexpected shape: ${JSON.stringify(data).slice(0, 200)}`,
    { retriable: true },
  );
const refused = (a: Extract<V3Answer<unknown>, { ok: false }>) => ({
  ok: false as const,
  code: a.code,
  message: a.message,
  error: a.error,
});

export function createV3PayIn(config: V3PayInConfig, deps: V3PayInDeps): PayIn {
  const { client } = deps;
  const nowMs = deps.nowMs ?? Date.now;
  /** The body of a create: everything from the stored order, so a create sent again is identical. */
  const orderBody = (o: Order): PayOrder => ({
    appid: config.appid,
    mchid: config.mchid,
    description: o.description,
    out_trade_no: o.outTradeNo,
    time_expire: chinaRfc3339(o.expiresAt),
    attach: o.attach,
    notify_url: o.notifyUrl,
    amount: { total: Number(o.amountFen), currency: 'CNY' },
  });
  const viewOf = <T>(what: string, a: V3Answer<T>): PayInAnswer<RefundView> => {
    if (!a.ok) return refused(a);
    const view = refundViewOf(a.data);
    if (!view) throw badAnswer(what, a.data);
    return { ok: true, value: view };
  };

  return {
    api: 'v3',
    async create(o): Promise<PayInAnswer<Checkout>> {
      if (o.tradeType === 'NATIVE') {
        const a = await client.createNativeOrder(orderBody(o));
        if (!a.ok) return refused(a);
        if (!isText(a.data.code_url)) throw badAnswer('native order', a.data);
        return { ok: true, value: { tradeType: 'NATIVE', codeUrl: a.data.code_url } };
      }
      if (!o.payerOpenid)
        throw new PipelineError('topup_without_openid', `JSAPI order ${o.outTradeNo} has no payer openid`, {
          retriable: false,
        });
      const a = await client.createJsapiOrder({ ...orderBody(o), payer: { openid: o.payerOpenid } });
      if (!a.ok) return refused(a);
      if (!isText(a.data.prepay_id)) throw badAnswer('jsapi order', a.data);
      return { ok: true, value: { tradeType: 'JSAPI', prepayId: a.data.prepay_id } };
    },
    async query(outTradeNo) {
      const a = await client.getOrder(outTradeNo);
      if (!a.ok) return refused(a);
      const trade = tradeOf(a.data);
      if (!trade) throw badAnswer('order query', a.data);
      return { ok: true, value: trade };
    },
    async close(outTradeNo) {
      const a = await client.closeOrder(outTradeNo);
      return a.ok ? { ok: true, value: undefined } : refused(a);
    },
    refund: async (r: Refund) =>
      viewOf(
        'refund',
        await client.createRefund({
          out_trade_no: r.outTradeNo,
          out_refund_no: r.outRefundNo,
          ...(r.reason ? { reason: r.reason } : {}),
          notify_url: r.notifyUrl,
          amount: { refund: Number(r.amountFen), total: Number(r.totalFen), currency: 'CNY' },
        }),
      ),
    queryRefund: async (outRefundNo) => viewOf('refund query', await client.getRefund(outRefundNo)),
    /** NO_STATEMENT_EXIST is a day without trades, an empty bill. */
    async tradeBill(day): Promise<TradeBill> {
      const a = await client.tradeBill(day);
      if (a.ok) return { ok: true, text: a.data };
      if (a.code === 'NO_STATEMENT_EXIST') return { ok: true, text: '' };
      return {
        ok: false,
        reason: a.code === 'STATEMENT_CREATING' ? 'creating' : 'failed',
        detail: `${a.code} ${a.message}`,
      };
    },
    jsapiParams(prepayId) {
      const fields = {
        appId: config.appid,
        timeStamp: String(Math.floor(nowMs() / 1000)),
        nonceStr: randomBytes(16).toString('hex'),
        package: `prepay_id=${prepayId}`,
      };
      return { ...fields, signType: 'RSA', paySign: client.jsapiPaySign(fields) };
    },
  };
}
