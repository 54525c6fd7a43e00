// Money in and its refunds, pure (funding-pg.ts does the I/O): the four ledger transfers of a top-up's
// life (a paid order's credit; a campaign refund's hold; each refund part's settle or release), what
// an outcome from the payouts service may post given the row it names, and how much a refund may take.
import { fen, type Fen } from '../common/money.js';
import { idempotencyKey, type Transfer } from './ledger.js';

/** A top-up order as rewards reads it (topup_orders, owned by payouts). */
export interface TopupOrder {
  outTradeNo: string;
  advertiserId: string;
  campaignId: string;
  amountFen: Fen;
  currency: string;
  state: string;
}

/** A campaign refund (campaign_refunds), held from its campaign's budget when accepted. */
export interface CampaignRefund {
  refundId: string;
  campaignId: string;
  advertiserId: string;
  amountFen: Fen;
  currency: string;
}

/** One part of a campaign refund at WeChat (topup_refunds, owned by payouts), with its refund (null: a whole-order refund). */
export interface RefundPart {
  outRefundNo: string;
  amountFen: Fen;
  state: string;
  refund: CampaignRefund | null;
}

export const topupKey = (outTradeNo: string) => idempotencyKey('topup', outTradeNo);
export const refundHoldKey = (refundId: string) => idempotencyKey('refund_hold', refundId);
export const refundOutcomeKey = (kind: 'refund_settle' | 'refund_release', outRefundNo: string) =>
  idempotencyKey(kind, outRefundNo);

/** A paid order's credit: the advertiser's funding pays the campaign's budget the order's amount. */
export function topupCredit(o: TopupOrder): Transfer {
  return {
    key: topupKey(o.outTradeNo),
    kind: 'fund',
    reference: o.outTradeNo,
    postings: [
      {
        account: { type: 'advertiser_funding', owner: o.advertiserId, currency: o.currency },
        side: 'debit',
        amount: o.amountFen,
      },
      {
        account: { type: 'campaign_budget', owner: o.campaignId, currency: o.currency },
        side: 'credit',
        amount: o.amountFen,
      },
    ],
  };
}

/** A campaign refund accepted: its amount leaves the budget for the refund's clearing account. */
export function refundHold(r: CampaignRefund): Transfer {
  return {
    key: refundHoldKey(r.refundId),
    kind: 'refund_hold',
    reference: r.refundId,
    postings: [
      {
        account: { type: 'campaign_budget', owner: r.campaignId, currency: r.currency },
        side: 'debit',
        amount: r.amountFen,
      },
      {
        account: { type: 'refund_clearing', owner: r.refundId, currency: r.currency },
        side: 'credit',
        amount: r.amountFen,
      },
    ],
  };
}

/** A part WeChat refunded (settle: to the advertiser) or that failed (release: back to the budget). */
export function refundOutcome(
  kind: 'refund_settle' | 'refund_release',
  part: { outRefundNo: string; amountFen: Fen },
  r: CampaignRefund,
): Transfer {
  const to =
    kind === 'refund_settle'
      ? { type: 'advertiser_funding' as const, owner: r.advertiserId, currency: r.currency }
      : { type: 'campaign_budget' as const, owner: r.campaignId, currency: r.currency };
  return {
    key: refundOutcomeKey(kind, part.outRefundNo),
    kind,
    reference: part.outRefundNo,
    postings: [
      {
        account: { type: 'refund_clearing', owner: r.refundId, currency: r.currency },
        side: 'debit',
        amount: part.amountFen,
      },
      { account: to, side: 'credit', amount: part.amountFen },
    ],
  };
}

export type SetAsideReason =
  | 'order_not_found'
  | 'order_not_paid'
  | 'part_not_found'
  | 'whole_order_refund'
  | 'part_not_succeeded'
  | 'part_not_failed';
export type Decided = { ok: true; transfer: Transfer } | { ok: false; reason: SetAsideReason };

/** The credit of an order, only once WeChat said it was paid (a person's `credit` resolution makes it paid too). */
export function decideCredit(order: TopupOrder | undefined): Decided {
  if (!order) return { ok: false, reason: 'order_not_found' };
  if (order.state !== 'paid') return { ok: false, reason: 'order_not_paid' };
  return { ok: true, transfer: topupCredit(order) };
}

/** A part's settle only when it succeeded, its release only when it failed; a whole-order refund never touches the ledger. */
export function decideRefundOutcome(
  kind: 'refund_settle' | 'refund_release',
  part: RefundPart | undefined,
): Decided & { refund?: CampaignRefund } {
  if (!part) return { ok: false, reason: 'part_not_found' };
  if (!part.refund) return { ok: false, reason: 'whole_order_refund' };
  if (kind === 'refund_settle' && part.state !== 'succeeded') return { ok: false, reason: 'part_not_succeeded' };
  if (kind === 'refund_release' && part.state !== 'failed') return { ok: false, reason: 'part_not_failed' };
  return { ok: true, transfer: refundOutcome(kind, part, part.refund), refund: part.refund };
}

export type RefundAmount =
  { ok: true; amountFen: Fen } | { ok: false; error: 'nothing_to_refund' | 'exceeds_refundable' };

/**
 * What a campaign refund may take: at most the budget's balance and at most what its credited top-ups
 * still carry (refundable); by default all of that. Nothing left is `nothing_to_refund`.
 */
export function refundAmount(requested: Fen | undefined, budgetFen: bigint, refundableFen: bigint): RefundAmount {
  const most = budgetFen < refundableFen ? budgetFen : refundableFen;
  if (most <= 0n) return { ok: false, error: 'nothing_to_refund' };
  if (requested === undefined) return { ok: true, amountFen: fen(most) };
  return requested > most ? { ok: false, error: 'exceeds_refundable' } : { ok: true, amountFen: requested };
}

export type RefundState = 'refunded' | 'partly_refunded' | 'failed';

/**
 * A campaign refund's final state once every part is final and in the ledger: all settled
 * (refunded), all released (failed), or some of each. Undefined while one is not (or none exists).
 */
export function refundState(parts: { state: string; applied: boolean }[]): RefundState | undefined {
  if (parts.length === 0 || parts.some((p) => !p.applied || (p.state !== 'succeeded' && p.state !== 'failed')))
    return undefined;
  const succeeded = parts.filter((p) => p.state === 'succeeded').length;
  return succeeded === parts.length ? 'refunded' : succeeded === 0 ? 'failed' : 'partly_refunded';
}
