// Money in, on Postgres: an operator's funding (`npm run rewards -- fund`), the payouts service's
// funding outcomes (a paid order's credit, a refund part's settle or release: funding.ts), and a
// campaign refund's request with its hold. Each is one unit of work with its ledger transfers.
import type pg from 'pg';
import { nameUuid } from '../common/name-uuid.js';
import { loadSql } from '../common/sql.js';
import { fen, type Fen } from '../common/money.js';
import type { FundingOutcomeJob } from '../schemas/queues.js';
import { fundingTransfer } from './earnings.js';
import {
  decideCredit,
  decideRefundOutcome,
  refundAmount,
  refundHold,
  refundOutcomeKey,
  refundState,
  type CampaignRefund,
  type RefundPart,
  type RefundState,
  type SetAsideReason,
  type TopupOrder,
} from './funding.js';
import { accountsOf, contentHash, idempotencyKey, legacyKey, type TransferResult } from './ledger.js';
import type { LedgerTx, PgLedger } from './ledger-pg.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'topup-order',
  'refund-part',
  'lock-campaign-refund',
  'campaign-refund-parts',
  'set-refund-state',
  'refund-campaign',
  'find-campaign-refund',
  'insert-campaign-refund',
  'campaign-money',
] as const);

/**
 * A funding repeated with the same campaign, amount and reference posts once, also when the first
 * was posted before funding keys became JSON arrays (README "Idempotency keys").
 */
export function fundCampaign(
  ledger: PgLedger,
  campaignId: string,
  amountFen: Fen,
  reference: string,
  currency: string,
): Promise<TransferResult> {
  const transfer = fundingTransfer(campaignId, amountFen, reference, currency);
  return ledger.unitOfWork(async (tx) => {
    const accounts = await tx.lock(accountsOf([transfer]));
    // The old key was ambiguous ("a:b" + "c" = "a" + "b:c"). A transaction there with this reference
    // is this campaign's funding (same key, same reference: same campaign), refused if its content
    // differs; one with another reference is another campaign's, so this one is posted.
    const old = (await tx.existing([legacyKey('fund', campaignId, reference)])).values().next().value;
    if (old?.reference === reference)
      return old.hash.equals(contentHash(transfer))
        ? { status: 'exists' }
        : { status: 'exists_with_different_content' };
    return (await tx.post([transfer], accounts)).results[0]!;
  });
}

/** What applying a funding outcome did: posted it (created), found it posted (exists), or set it aside with why. */
export type ApplyResult =
  | { status: 'created' | 'exists'; refundState?: RefundState }
  | {
      status: 'set_aside';
      reason: SetAsideReason | 'outcome_conflict' | 'transfer_refused' | 'refund_not_found';
      detail?: string;
    };

export interface CampaignMoney {
  budgetFen: bigint;
  fundedFen: bigint;
  heldFen: bigint;
  refundedFen: bigint;
  releasedFen: bigint;
  refundableFen: bigint;
}
export interface RefundRow extends CampaignRefund {
  reason: string;
  state: string;
  createdAt: Date;
}

export type RefundRequestResult =
  | { status: 'created' | 'exists'; refund: RefundRow }
  | {
      status:
        'not_found' | 'campaign_not_ended' | 'nothing_to_refund' | 'exceeds_refundable' | 'idempotency_key_reused';
    };

interface RefundRowSql {
  refund_id: string;
  campaign_id: string;
  advertiser_id: string;
  amount_fen: string;
  currency: string;
  reason: string;
  state: string;
  created_at: Date;
}
const toRefund = (r: RefundRowSql): RefundRow => ({
  refundId: r.refund_id,
  campaignId: r.campaign_id,
  advertiserId: r.advertiser_id,
  amountFen: fen(r.amount_fen),
  currency: r.currency,
  reason: r.reason,
  state: r.state,
  createdAt: r.created_at,
});

/** Campaign `campaignId`'s money in `currency`, as the ledger has it (sql/campaign-money.sql). */
export async function campaignMoney(
  db: pg.ClientBase | pg.Pool,
  campaignId: string,
  currency: string,
): Promise<CampaignMoney> {
  const {
    rows: [m],
  } = await db.query<Record<'budget_fen' | 'funded_fen' | 'held_fen' | 'refunded_fen' | 'released_fen', string>>(
    sql['campaign-money'],
    [campaignId, currency],
  );
  const [budgetFen, fundedFen, heldFen, refundedFen, releasedFen] = [
    m!.budget_fen,
    m!.funded_fen,
    m!.held_fen,
    m!.refunded_fen,
    m!.released_fen,
  ].map(BigInt) as [bigint, bigint, bigint, bigint, bigint];
  return { budgetFen, fundedFen, heldFen, refundedFen, releasedFen, refundableFen: fundedFen - heldFen + releasedFen };
}

export function createFunding(config: { currency: string }, deps: { ledger: PgLedger }) {
  /** A paid order's credit to its campaign's budget, once (its key is the order's number). */
  const credit = (outTradeNo: string) =>
    deps.ledger.unitOfWork(async (tx): Promise<ApplyResult> => {
      const {
        rows: [o],
      } = await tx.db.query<{
        out_trade_no: string;
        advertiser_id: string;
        campaign_id: string;
        amount_fen: string;
        currency: string;
        state: string;
      }>(sql['topup-order'], [outTradeNo]);
      const order: TopupOrder | undefined = o && {
        outTradeNo: o.out_trade_no,
        advertiserId: o.advertiser_id,
        campaignId: o.campaign_id,
        amountFen: fen(o.amount_fen),
        currency: o.currency,
        state: o.state,
      };
      const decided = decideCredit(order);
      if (!decided.ok) return { status: 'set_aside', reason: decided.reason, detail: order?.state };
      // Nothing it touches can be overdrawn (funding may go below zero, the budget is credited): no lock.
      const {
        results: [r],
      } = await tx.post([decided.transfer], new Map());
      return r!.status === 'created' || r!.status === 'exists'
        ? { status: r!.status }
        : { status: 'set_aside', reason: 'transfer_refused', detail: r!.status };
    });

  /** A refund part's settle or release, once, and its refund's final state when it was the last part. */
  const refundOutcome = (kind: 'refund_settle' | 'refund_release', outRefundNo: string) =>
    deps.ledger.unitOfWork(async (tx): Promise<ApplyResult> => {
      const {
        rows: [x],
      } = await tx.db.query<{
        out_refund_no: string;
        amount_fen: string;
        state: string;
        refund_id: string | null;
        campaign_id: string;
        advertiser_id: string;
        refund_fen: string;
        currency: string;
      }>(sql['refund-part'], [outRefundNo]);
      const part: RefundPart | undefined = x && {
        outRefundNo: x.out_refund_no,
        amountFen: fen(x.amount_fen),
        state: x.state,
        refund:
          x.refund_id === null
            ? null
            : {
                refundId: x.refund_id,
                campaignId: x.campaign_id,
                advertiserId: x.advertiser_id,
                amountFen: fen(x.refund_fen),
                currency: x.currency,
              },
      };
      const decided = decideRefundOutcome(kind, part);
      if (!decided.ok) return { status: 'set_aside', reason: decided.reason, detail: part?.state };
      const refundId = decided.refund!.refundId;
      if ((await tx.db.query(sql['lock-campaign-refund'], [refundId])).rowCount === 0)
        return { status: 'set_aside', reason: 'refund_not_found' };
      const other = refundOutcomeKey(kind === 'refund_settle' ? 'refund_release' : 'refund_settle', outRefundNo);
      if ((await tx.existing([other])).size > 0)
        return { status: 'set_aside', reason: 'outcome_conflict', detail: `${other} is posted` };
      const {
        results: [r],
      } = await tx.post([decided.transfer], await tx.lock(accountsOf([decided.transfer])));
      if (r!.status !== 'created' && r!.status !== 'exists')
        return { status: 'set_aside', reason: 'transfer_refused', detail: r!.status };
      const state = await settleRefundState(tx, refundId);
      return { status: r!.status, ...(state ? { refundState: state } : {}) };
    });

  /** Moves the refund to its final state once every part is final and in the ledger (the refund's row is locked). */
  async function settleRefundState(tx: LedgerTx, refundId: string): Promise<RefundState | undefined> {
    const { rows } = await tx.db.query<{ out_refund_no: string; state: string }>(sql['campaign-refund-parts'], [
      refundId,
    ]);
    const keys = (no: string) => [refundOutcomeKey('refund_settle', no), refundOutcomeKey('refund_release', no)];
    const posted = await tx.existing(rows.flatMap((p) => keys(p.out_refund_no)));
    const applied = (p: { out_refund_no: string; state: string }) =>
      posted.has(refundOutcomeKey(p.state === 'succeeded' ? 'refund_settle' : 'refund_release', p.out_refund_no));
    const state = refundState(rows.map((p) => ({ state: p.state, applied: applied(p) })));
    if (state && (await tx.db.query(sql['set-refund-state'], [refundId, state])).rowCount === 1) return state;
    return undefined;
  }

  return {
    /** Applies one funding outcome; a repeat changes nothing (each posts under its own ledger key). */
    apply: (job: FundingOutcomeJob): Promise<ApplyResult> =>
      job.kind === 'credit' ? credit(job.outTradeNo) : refundOutcome(job.kind, job.outRefundNo),

    /**
     * A refund of campaign `campaignId`'s unspent budget, asked by its advertiser (`advertiserId`) or
     * the operator (undefined): only once the campaign has ended, at most its budget and what its
     * credited top-ups still carry, all of that by default. Posts the hold and records the request in
     * one unit of work, the budget locked, so concurrent requests never hold more than it has. The
     * same Idempotency-Key with the same request answers the first refund.
     */
    requestRefund: (r: {
      campaignId: string;
      advertiserId?: string;
      amountFen?: Fen;
      reason: string;
      idempotencyKey: string;
    }) =>
      deps.ledger.unitOfWork(async (tx): Promise<RefundRequestResult> => {
        const {
          rows: [c],
        } = await tx.db.query<{ advertiser_id: string | null; ended: boolean }>(sql['refund-campaign'], [r.campaignId]);
        if (!c || c.advertiser_id === null || (r.advertiserId !== undefined && c.advertiser_id !== r.advertiserId))
          return { status: 'not_found' };
        const refund: CampaignRefund = {
          refundId: nameUuid(idempotencyKey('campaign_refund', c.advertiser_id, r.idempotencyKey)),
          campaignId: r.campaignId,
          advertiserId: c.advertiser_id,
          amountFen: fen(0),
          currency: config.currency,
        };
        // The budget first: concurrent requests for the campaign wait here, and then see each other's holds.
        const accounts = await tx.lock([{ type: 'campaign_budget', owner: r.campaignId, currency: config.currency }]);
        const {
          rows: [previous],
        } = await tx.db.query<RefundRowSql>(sql['find-campaign-refund'], [c.advertiser_id, r.idempotencyKey]);
        if (previous) {
          const first = toRefund(previous);
          const same =
            first.campaignId === r.campaignId &&
            (r.amountFen === undefined || first.amountFen === r.amountFen) &&
            first.reason === r.reason;
          return same ? { status: 'exists', refund: first } : { status: 'idempotency_key_reused' };
        }
        if (!c.ended) return { status: 'campaign_not_ended' };
        const money = await campaignMoney(tx.db, r.campaignId, config.currency);
        const amount = refundAmount(r.amountFen, money.budgetFen, money.refundableFen);
        if (!amount.ok) return { status: amount.error };
        const hold = refundHold({ ...refund, amountFen: amount.amountFen });
        for (const [key, account] of await tx.lock(accountsOf([hold]))) accounts.set(key, account); // its clearing account, new
        const {
          results: [posted],
        } = await tx.post([hold], accounts);
        // The budget is locked and was read under that lock: a refusal here is a bug, not a race.
        if (posted!.status !== 'created') throw new Error(`refund hold ${refund.refundId}: ${posted!.status}`);
        const {
          rows: [row],
        } = await tx.db.query<RefundRowSql>(sql['insert-campaign-refund'], [
          refund.refundId,
          r.campaignId,
          c.advertiser_id,
          r.idempotencyKey,
          amount.amountFen.toString(),
          config.currency,
          r.reason,
        ]);
        return { status: 'created', refund: toRefund(row!) };
      }),
  };
}
export type Funding = ReturnType<typeof createFunding>;
