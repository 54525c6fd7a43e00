// What WeChat's word does to a top-up order or a refund part (README "Top-ups and refunds"), as pure
// tables: the flow reads the row, asks these for the move, and the store writes it guarded by the
// state it was read in, so every rule here is tested apart from Postgres and WeChat.
import type { Fen } from '../../common/money.js';
import type { RefundView, Refused, Trade } from './pay-in.js';

/** topup_orders.state (migration 0014). */
export type OrderState = 'created' | 'open' | 'paid' | 'closing' | 'closed' | 'attention';
export type AttentionReason = 'amount_mismatch' | 'merchant_mismatch' | 'paid_after_close';
/** topup_refunds.state. */
export type PartState = 'created' | 'processing' | 'succeeded' | 'failed' | 'attention';

export interface Merchant {
  mchid: string;
  appid: string;
}

/** The state an order moves to on `trade` (the same state: only WeChat's word is kept), and why when it needs a person. */
export function tradeMove(
  order: { state: OrderState; amountFen: Fen },
  trade: Trade,
  ours: Merchant,
): { to: OrderState; reason?: AttentionReason } {
  const { state } = order;
  const stay = { to: state };
  const mine = trade.mchid === ours.mchid && trade.appid === ours.appid;
  if (trade.tradeState === 'SUCCESS') {
    // Paid, or already a person's: a repeat (a duplicate notification, a query after one) changes nothing.
    if (state === 'paid' || state === 'attention') return stay;
    if (!mine) return { to: 'attention', reason: 'merchant_mismatch' };
    if (trade.totalFen !== order.amountFen) return { to: 'attention', reason: 'amount_mismatch' };
    // We had WeChat's word that it closed: a payment now is never credited without a person.
    if (state === 'closed') return { to: 'attention', reason: 'paid_after_close' };
    return { to: 'paid' };
  }
  // WeChat says nothing can be paid on it any more. A created order WeChat shows closed was created there.
  if (
    mine &&
    (trade.tradeState === 'CLOSED' || trade.tradeState === 'REVOKED' || trade.tradeState === 'PAYERROR') &&
    (state === 'created' || state === 'open' || state === 'closing')
  )
    return { to: 'closed' };
  // NOTPAY, USERPAYING, REFUND (a paid order refunded): WeChat's word only.
  return stay;
}

/** Why a part is in attention when WeChat said ABNORMAL (topup_refunds.reason; the SQL of the sweep names it too). */
export const ABNORMAL = 'ABNORMAL';
/** A part WeChat could not return to the payer's card, until a person handles it (merchant platform, or 异常退款 API). */
export const isAbnormal = (part: { state: PartState; stateReason: string | null }) =>
  part.state === 'attention' && part.stateReason === ABNORMAL;

/**
 * The state a refund part moves to on WeChat's view of it; a final state never changes again, but for
 * an ABNORMAL part a person handled: WeChat then says SUCCESS, and it succeeds.
 */
export function refundMove(
  part: { state: PartState; amountFen: Fen; stateReason: string | null },
  view: RefundView,
): { to: PartState; reason?: string } {
  const { state } = part;
  const handled = isAbnormal(part) && view.status === 'SUCCESS';
  if (state !== 'created' && state !== 'processing' && !handled) return { to: state };
  switch (view.status) {
    case 'SUCCESS':
      return view.amountFen === part.amountFen ? { to: 'succeeded' } : { to: 'attention', reason: 'amount_mismatch' };
    case 'CLOSED':
      return { to: 'failed', reason: 'CLOSED' };
    // WeChat could not return it to the payer's card: a person handles it, and the sweep asks again hourly.
    case 'ABNORMAL':
      return { to: 'attention', reason: ABNORMAL };
    case 'PROCESSING':
      return { to: 'processing' };
  }
}

/**
 * What a refusal of a refund call means for the part: `failed` (nothing moved and nothing will: the
 * money goes back to the budget), `retry` (the same request again later), or `hold` (a code a person
 * must look at, or an unsigned answer, which is never final: the part stays created and is logged).
 */
export function refundRefusal(refused: Refused): 'failed' | 'retry' | 'hold' {
  if (refused.error.final) return 'failed';
  return refused.error.retriable ? 'retry' : 'hold';
}

/** Codes a create sent again gets when the order is already paid or closed at WeChat (v3, v2): a query says which. */
const ALREADY = new Set(['ORDERPAID', 'ORDER_CLOSED', 'ORDERCLOSED']);

/**
 * What a refusal of an order's create means: `retry` (it stays created; the sweep sends the same create
 * again), `query` (WeChat has the order: its query decides), or `closed` (refused: nothing can be paid on it).
 */
export function createRefusal(refused: Refused): 'retry' | 'query' | 'closed' {
  if (ALREADY.has(refused.code)) return 'query';
  return refused.error.retriable ? 'retry' : 'closed';
}

/** Whether an order in `state` still waits for WeChat (the sweep's business). */
export const isOpen = (state: OrderState) => state === 'created' || state === 'open' || state === 'closing';
