// The sandbox's pay-in core, shared by the APIv3 (pay-in.ts) and APIv2 (pay-in-v2.ts) endpoints: one
// merchant, one set of orders and refunds. An order is NOTPAY until its payer pays it (the admin
// route POST /sandbox/pay) or the merchant closes it; past time_expire nobody can pay it. A payment
// lands in the basic account; a refund leaves it a step after it was accepted (or ends CLOSED, or
// ABNORMAL by fault until the merchant handles it). Journaled; each API announces its own notifications.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import type { V2SignType } from '../wechat/v2-protocol.js';
import type { Journal } from './journal.js';
import type { Merchant } from './merchant.js';
import { chinaTime, type Timers } from './timers.js';

export type Api = 'v3' | 'v2';
export type TradeType = 'NATIVE' | 'JSAPI';
/** `hash`: of the create request, so a repeat is told from a reuse; `signType`: a v2 order's, which signs its notification. */
export interface Order {
  outTradeNo: string;
  api: Api;
  hash: string;
  signType?: V2SignType;
  appid: string;
  mchid: string;
  tradeType: TradeType;
  description: string;
  attach: string;
  notifyUrl: string;
  totalFen: number;
  /** JSAPI: the payer the order was made for. */
  openid?: string;
  createdAt: number;
  expiresAt: number;
  codeUrl?: string;
  prepayId: string;
  state: 'NOTPAY' | 'SUCCESS' | 'CLOSED';
  transactionId?: string;
  paidAt?: number;
  payerOpenid?: string;
  closedAt?: number;
}
export type RefundStatus = 'PROCESSING' | 'SUCCESS' | 'CLOSED' | 'ABNORMAL';
/**
 * `fate`: how it ends (faults decide it when accepted, so a restart ends it the same way). `finishedAt`:
 * when it reached its status; `abnormalAt`: when it went ABNORMAL, for one the merchant then handled.
 */
export interface Refund {
  outRefundNo: string;
  outTradeNo: string;
  api: Api;
  hash: string;
  signType?: V2SignType;
  notifyUrl?: string;
  reason?: string;
  refundId: string;
  amountFen: number;
  createdAt: number;
  fate: Exclude<RefundStatus, 'PROCESSING'>;
  status: RefundStatus;
  finishedAt?: number;
  abnormalAt?: number;
}
export type NewOrder = Omit<
  Order,
  'state' | 'createdAt' | 'prepayId' | 'codeUrl' | 'transactionId' | 'paidAt' | 'payerOpenid' | 'closedAt'
>;
export type NewRefund = Pick<
  Refund,
  'outRefundNo' | 'api' | 'hash' | 'signType' | 'notifyUrl' | 'reason' | 'amountFen'
> & { outTradeNo?: string; transactionId?: string; totalFen: number };
export type RefundRefusal = 'REUSED' | 'NOT_PAID' | 'TOTAL_MISMATCH' | 'TOO_MUCH' | 'TOO_MANY' | 'NOT_ENOUGH';
export type PayRefusal = 'ORDER_NOT_EXIST' | 'ORDERPAID' | 'ORDER_CLOSED' | 'ORDER_EXPIRED' | 'OPENID_MISMATCH';
export type Announcement = { kind: 'paid'; order: Order } | { kind: 'refund'; refund: Refund; order: Order };

export const MAX_REFUNDS_PER_ORDER = 50;
/** How long an order takes payment when its create names no time_expire (a code_url's and a prepay_id's life). */
export const DEFAULT_EXPIRY_MS = 2 * 3_600_000;
const digits = (n: number) => Array.from({ length: n }, () => randomInt(10)).join('');
/** A JSON body's hash that ignores the order of its keys. */
export function bodyHash(value: unknown): string {
  const canonical = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
        )
      : v;
  return createHash('sha256')
    .update(JSON.stringify(canonical(value)))
    .digest('hex');
}
/** RFC 3339 with an offset (WeChat's time_expire), in ms; undefined when it is not one. */
export function rfc3339Ms(text: unknown): number | undefined {
  if (typeof text !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(text))
    return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

export function createTrades(
  config: { stepMs: number },
  deps: { merchant: Merchant; journal: Journal; timers: Timers; now(): number },
) {
  const m = deps.merchant;
  const { records: orders, save: saveOrder } = deps.journal.records<Order>('order');
  const { records: refunds, save: saveRefund } = deps.journal.records<Refund>('refund');
  const listeners: ((a: Announcement) => void)[] = [];
  const announce = (a: Announcement) => listeners.forEach((fn) => fn(a));
  const refundsOf = (outTradeNo: string) => [...refunds.values()].filter((r) => r.outTradeNo === outTradeNo);
  const sumOf = (rs: Refund[]) => rs.reduce((n, r) => n + r.amountFen, 0);
  /** Refunds accepted and not yet paid out of BASIC: their money is spoken for. */
  const pendingFen = () =>
    sumOf(
      [...refunds.values()].filter(
        (r) => r.status === 'PROCESSING' && r.fate !== 'CLOSED' && !m.isTradeRefunded(r.outRefundNo),
      ),
    );

  const finish = (r: Refund) =>
    deps.timers.later(config.stepMs, () => {
      if (r.status !== 'PROCESSING') return;
      const order = orders.get(r.outTradeNo)!;
      // Reserved when accepted, so BASIC holds it; should it not, the refund closes with nothing moved.
      const short = r.fate !== 'CLOSED' && m.tradeRefund(r.amountFen, r.outRefundNo, r.reason || order.description);
      Object.assign(r, { status: short ? 'CLOSED' : r.fate, finishedAt: deps.now() });
      saveRefund(r.outRefundNo, r);
      announce({ kind: 'refund', refund: r, order });
    });
  for (const r of refunds.values()) if (r.status === 'PROCESSING') finish(r);

  const trades = {
    orders,
    refunds,
    refundsOf,
    onAnnounce: (fn: (a: Announcement) => void) => void listeners.push(fn),
    /** Refunded and paid out of BASIC. */
    refundedFen: (outTradeNo: string) => sumOf(refundsOf(outTradeNo).filter((r) => r.status === 'SUCCESS')),
    /** WeChat's trade_state: a paid order refunded in full reads REFUND. */
    tradeState: (o: Order) =>
      o.state === 'SUCCESS' && trades.refundedFen(o.outTradeNo) >= o.totalFen ? 'REFUND' : o.state,
    find(by: {
      out_trade_no?: string;
      transaction_id?: string;
      code_url?: string;
      prepay_id?: string;
    }): Order | undefined {
      if (by.out_trade_no) return orders.get(by.out_trade_no);
      return [...orders.values()].find(
        (o) =>
          (by.transaction_id && o.transactionId === by.transaction_id) ||
          (by.code_url && o.codeUrl === by.code_url) ||
          (by.prepay_id && o.prepayId === by.prepay_id),
      );
    },

    /** A create: the order as first made for a repeat of its request; refused when paid, closed, or the number was used for another. */
    open(input: NewOrder): { order: Order } | { error: 'ORDERPAID' | 'ORDER_CLOSED' | 'REUSED' } {
      const previous = orders.get(input.outTradeNo);
      if (previous?.state === 'SUCCESS') return { error: 'ORDERPAID' };
      if (previous?.state === 'CLOSED') return { error: 'ORDER_CLOSED' };
      if (previous) return previous.hash === input.hash ? { order: previous } : { error: 'REUSED' };
      const now = deps.now();
      const order: Order = {
        ...input,
        state: 'NOTPAY',
        createdAt: now,
        prepayId: `wx${chinaTime(now).slice(0, 19).replace(/\D/g, '')}${randomBytes(10).toString('hex')}`,
        ...(input.tradeType === 'NATIVE'
          ? { codeUrl: `weixin://wxpay/bizpayurl?pr=${randomBytes(7).toString('base64url').slice(0, 9)}` }
          : {}),
      };
      orders.set(order.outTradeNo, order);
      saveOrder(order.outTradeNo, order);
      return { order };
    },

    /** The payer pays (admin route): an open order before time_expire, or with `afterClose` a closed or expired one. */
    pay(
      o: Order | undefined,
      opts: { openid?: string; afterClose?: boolean },
    ): { order: Order } | { error: PayRefusal } {
      if (!o) return { error: 'ORDER_NOT_EXIST' };
      if (o.state === 'SUCCESS') return { error: 'ORDERPAID' };
      if (!opts.afterClose && o.state === 'CLOSED') return { error: 'ORDER_CLOSED' };
      if (!opts.afterClose && deps.now() > o.expiresAt) return { error: 'ORDER_EXPIRED' };
      if (o.openid && opts.openid && opts.openid !== o.openid) return { error: 'OPENID_MISMATCH' };
      const payer =
        o.openid ??
        opts.openid ??
        `o${createHash('sha256').update(`${o.appid}/payer`).digest('base64url').slice(0, 27)}`;
      // The money first: a crash before the order is saved leaves it payable again, and paid in once.
      m.tradeIn(o.totalFen, o.outTradeNo, o.description);
      Object.assign(o, {
        state: 'SUCCESS',
        transactionId: `4200${digits(28)}`,
        paidAt: deps.now(),
        payerOpenid: payer,
      });
      saveOrder(o.outTradeNo, o);
      announce({ kind: 'paid', order: o });
      return { order: o };
    },

    /** The merchant closes an unpaid order (again: nothing new); a paid one answers ORDERPAID. */
    close(o: Order): 'ORDERPAID' | undefined {
      if (o.state === 'SUCCESS') return 'ORDERPAID';
      if (o.state === 'CLOSED') return undefined;
      Object.assign(o, { state: 'CLOSED', closedAt: deps.now() });
      saveOrder(o.outTradeNo, o);
      return undefined;
    },

    /** A refund request, checked as WeChat does; accepted ones are PROCESSING and end a step later. */
    refund(input: NewRefund): { refund: Refund } | { error: RefundRefusal } {
      const previous = refunds.get(input.outRefundNo);
      if (previous) return previous.hash === input.hash ? { refund: previous } : { error: 'REUSED' };
      const o = trades.find({ out_trade_no: input.outTradeNo, transaction_id: input.transactionId });
      if (!o || o.state !== 'SUCCESS') return { error: 'NOT_PAID' };
      if (input.totalFen !== o.totalFen) return { error: 'TOTAL_MISMATCH' };
      const parts = refundsOf(o.outTradeNo);
      if (parts.length >= MAX_REFUNDS_PER_ORDER) return { error: 'TOO_MANY' };
      const taken = sumOf(parts.filter((r) => r.status !== 'CLOSED'));
      if (!Number.isSafeInteger(input.amountFen) || input.amountFen < 1 || input.amountFen > o.totalFen - taken)
        return { error: 'TOO_MUCH' };
      if (m.take('refundNotEnough') || input.amountFen > m.basicBalanceFen - pendingFen())
        return { error: 'NOT_ENOUGH' };
      const fate = m.take('refundClosed') ? 'CLOSED' : m.take('refundAbnormal') ? 'ABNORMAL' : 'SUCCESS';
      const { transactionId: _t, totalFen: _f, ...rest } = input;
      const refund: Refund = {
        ...rest,
        outTradeNo: o.outTradeNo,
        refundId: `50${digits(27)}`,
        createdAt: deps.now(),
        fate,
        status: 'PROCESSING',
      };
      refunds.set(refund.outRefundNo, refund);
      saveRefund(refund.outRefundNo, refund);
      finish(refund);
      return { refund };
    },

    /**
     * The merchant handles an ABNORMAL refund (on the merchant platform; the 异常退款 API): it is SUCCESS
     * from now, announced and in today's trade bill. Its money left BASIC when it went ABNORMAL, so none
     * moves now. The refund's status when it is not ABNORMAL (nothing changes).
     */
    handleAbnormal(r: Refund): RefundStatus | undefined {
      if (r.status !== 'ABNORMAL') return r.status;
      Object.assign(r, { status: 'SUCCESS', abnormalAt: r.finishedAt, finishedAt: deps.now() });
      saveRefund(r.outRefundNo, r);
      announce({ kind: 'refund', refund: r, order: orders.get(r.outTradeNo)! });
      return undefined;
    },
  };
  return trades;
}
export type Trades = ReturnType<typeof createTrades>;
