// Decisions on earnings held for review (over a platform daily limit: no money moved). Approving one
// pays it from its campaign's budget, once (the transfer's key is the earning id), within its
// campaign's daily cap; rejecting it records that it is not paid. Each is decided once.
import { PipelineError } from '../common/errors.js';
import { parsePerson } from '../common/person.js';
import { loadSql } from '../common/sql.js';
import { fen, type Fen } from '../common/money.js';
import { reviewTransfer, ruleAt } from './earnings.js';
import { loadCampaigns } from './earnings-pg.js';
import { refusal, type PgLedger } from './ledger-pg.js';
import { userAccount } from './payout-requests.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'review-earning',
  'decide-earning',
  'daily-totals',
  'held-earnings',
] as const);

interface HeldRow {
  source_event_id: string;
  earning_id: string;
  user_id: string;
  campaign_id: string;
  status: string;
  amount_fen: string;
  fee_fen: string;
  day: string;
  verified_ms: string;
}

interface HeldListRow {
  earning_id: string;
  user_id: string;
  campaign_id: string;
  reason: string;
  amount_fen: string;
  fee_fen: string;
  day: string;
  verified_at: Date;
}
export interface HeldEarning {
  earningId: string;
  appId: string;
  userId: string;
  campaignId: string;
  reason: string;
  amountFen: Fen;
  feeFen: Fen;
  day: string;
  verifiedAt: Date;
}

/** approved/rejected: decided now; the rest change nothing (budget_exhausted, daily_cap and no_rule leave it in review). */
export type ReviewResult =
  'approved' | 'rejected' | 'not_found' | 'already_decided' | 'budget_exhausted' | 'daily_cap' | 'no_rule';

export function createEarningReviews(deps: { ledger: PgLedger }) {
  const decide = (earningId: string, decision: 'approve' | 'reject') =>
    deps.ledger.unitOfWork(async (tx): Promise<ReviewResult> => {
      const held = (await tx.db.query<HeldRow>(sql['review-earning'], [earningId])).rows[0];
      if (!held) return 'not_found';
      if (held.status !== 'review') return 'already_decided';
      if (decision === 'reject') {
        await tx.db.query(sql['decide-earning'], [held.source_event_id, 'refused', null]);
        return 'rejected';
      }
      // The currency is the rule's that decided the amounts: the one in effect when it was verified.
      const rule = ruleAt(
        (await loadCampaigns(tx.db, [held.campaign_id])).rules.get(held.campaign_id) ?? [],
        Number(held.verified_ms),
      );
      if (!rule) return 'no_rule';
      const transfer = reviewTransfer({
        earningId: held.earning_id,
        campaignId: held.campaign_id,
        person: held.user_id,
        currency: rule.currency,
        amountFen: fen(held.amount_fen),
        feeFen: fen(held.fee_fen),
      });
      // The cap is the advertiser's: held earnings were each checked against what was posted when they
      // came, not against each other, so approving them all could pass it. Counted as a batch counts
      // it, after locking the person's balance (which capped batches lock), and only then the budget
      // (the order a batch takes them in: its budget is updated last).
      if (rule.userDailyCapFen !== null) {
        await tx.lock([userAccount('user_available', held.user_id, rule.currency)]);
        const posted =
          (
            await tx.db.query<{ total_fen: string }>(sql['daily-totals'], [
              [held.user_id],
              [held.campaign_id],
              [held.day],
            ])
          ).rows[0]?.total_fen ?? '0';
        if (BigInt(posted) + BigInt(held.amount_fen) > rule.userDailyCapFen) return 'daily_cap';
      }
      // Only the budget can be overdrawn; the person's balance and the fees are only added to.
      const accounts = await tx.lock([transfer.postings[0]!.account]);
      const { results, ids } = await tx.post([transfer], accounts);
      if (results[0]!.status === 'exceeds_balance') return 'budget_exhausted';
      const refused = refusal(results[0]!);
      if (refused) throw refused;
      const transactionId = ids.get(transfer.key);
      if (transactionId === undefined)
        throw new PipelineError(
          'review_transfer_exists',
          `earning ${earningId} is in review, yet its transfer was posted`,
          { retriable: false },
        );
      await tx.db.query(sql['decide-earning'], [held.source_event_id, 'posted', transactionId]);
      return 'approved';
    });
  return {
    approve: (earningId: string) => decide(earningId, 'approve'),
    reject: (earningId: string) => decide(earningId, 'reject'),
    /** The earnings waiting for a decision, oldest first, with their person's app and user apart. */
    async held(limit: number): Promise<HeldEarning[]> {
      const { rows } = await deps.ledger.unitOfWork((tx) => tx.db.query<HeldListRow>(sql['held-earnings'], [limit]));
      return rows.map((r) => {
        const person = parsePerson(r.user_id);
        return {
          earningId: r.earning_id,
          appId: person?.appId ?? '',
          userId: person?.userId ?? r.user_id,
          campaignId: r.campaign_id,
          reason: r.reason,
          amountFen: fen(r.amount_fen),
          feeFen: fen(r.fee_fen),
          day: r.day,
          verifiedAt: r.verified_at,
        };
      });
    },
  };
}
