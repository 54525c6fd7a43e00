// Every BullMQ queue between services. Job ids are deterministic, so a repeated hand-off enqueues once.
export const queues = {
  /** rewards -> payouts: a payout request with its ledger hold in place. Job id = data = payout_id. */
  payoutRequests: { name: 'payout-requests', jobName: 'payout' },
} as const;

export interface PayoutRequestJob {
  payoutId: string;
}

/**
 * payouts -> rewards: what the provider said about some payouts, applied to the ledger together (a
 * batch's 1,000 settles in one transaction). Job id = a hash of the list, so a repeat enqueues once.
 */
export const payoutOutcomes = { name: 'payout-outcomes', jobName: 'outcomes' } as const;
export interface PayoutOutcome {
  payoutId: string;
  outcome: 'settle' | 'release' | 'reverse';
}
export interface PayoutOutcomeJob {
  outcomes: PayoutOutcome[];
}

/**
 * rewards -> payouts: a campaign refund with its ledger hold in place (campaign_refunds row), to be
 * split over the campaign's paid top-up orders and refunded at WeChat. Job id = data = refund_id.
 */
export const refundRequests = { name: 'refund-requests', jobName: 'refund' } as const;
export interface RefundRequestJob {
  refundId: string;
}

/**
 * payouts -> rewards: money in and its refunds, for the ledger. `credit`: a top-up order WeChat said
 * was paid (funding -> the campaign's budget); `refund_settle` / `refund_release`: a refund part's
 * final outcome (refund_clearing -> the advertiser, or back to the budget). Rewards reads the amounts
 * from topup_orders / topup_refunds; each posts under its own ledger key, so a repeat changes nothing.
 * Job id = `<kind>-<number>`.
 */
export const fundingOutcomes = { name: 'funding-outcomes', jobName: 'funding' } as const;
export type FundingOutcomeJob =
  { kind: 'credit'; outTradeNo: string } | { kind: 'refund_settle' | 'refund_release'; outRefundNo: string };
