// Decisions on earnings held for review (over a platform daily limit: no money moved). Approving one
// pays it from its campaign's budget, once (the transfer's key is the earning id); rejecting it
// records that it is not paid. Each is decided once: a second decision is refused.
import { PipelineError } from '../common/errors.js';
import { loadSql } from '../common/sql.js';
import { reviewTransfer, ruleAt } from './earnings.js';
import { loadCampaigns } from './earnings-pg.js';
import { fen } from './ledger.js';
import { refusal, type PgLedger } from './ledger-pg.js';

const sql = loadSql(new URL('./sql/', import.meta.url), ['review-earning', 'decide-earning'] as const);

interface HeldRow { source_event_id: string; earning_id: string; user_id: string; campaign_id: string; status: string; amount_fen: string; fee_fen: string; verified_ms: string }

/** approved/rejected: decided now; the rest change nothing (budget_exhausted and no_rule leave it in review). */
export type ReviewResult = 'approved' | 'rejected' | 'not_found' | 'already_decided' | 'budget_exhausted' | 'no_rule';

export function createEarningReviews(deps: { ledger: PgLedger }) {
  const decide = (earningId: string, decision: 'approve' | 'reject') => deps.ledger.unitOfWork(async (tx): Promise<ReviewResult> => {
    const held = (await tx.db.query<HeldRow>(sql['review-earning'], [earningId])).rows[0];
    if (!held) return 'not_found';
    if (held.status !== 'review') return 'already_decided';
    if (decision === 'reject') {
      await tx.db.query(sql['decide-earning'], [held.source_event_id, 'refused', null]);
      return 'rejected';
    }
    // The currency is the rule's that decided the amounts: the one in effect when it was verified.
    const rule = ruleAt((await loadCampaigns(tx.db, [held.campaign_id])).rules.get(held.campaign_id) ?? [], Number(held.verified_ms));
    if (!rule) return 'no_rule';
    const transfer = reviewTransfer({
      earningId: held.earning_id, campaignId: held.campaign_id, person: held.user_id, currency: rule.currency,
      amountFen: fen(held.amount_fen), feeFen: fen(held.fee_fen),
    });
    // Only the budget can be overdrawn; the person's balance and the fees are only added to.
    const accounts = await tx.lock([transfer.postings[0]!.account]);
    const { results, ids } = await tx.post([transfer], accounts);
    if (results[0]!.status === 'exceeds_balance') return 'budget_exhausted';
    const refused = refusal(results[0]!);
    if (refused) throw refused;
    const transactionId = ids.get(transfer.key);
    if (transactionId === undefined) throw new PipelineError('review_transfer_exists', `earning ${earningId} is in review, yet its transfer was posted`, { retriable: false });
    await tx.db.query(sql['decide-earning'], [held.source_event_id, 'posted', transactionId]);
    return 'approved';
  });
  return {
    approve: (earningId: string) => decide(earningId, 'approve'),
    reject: (earningId: string) => decide(earningId, 'reject'),
  };
}
