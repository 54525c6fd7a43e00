// Every BullMQ queue between services. Job ids are deterministic, so a repeated hand-off enqueues once.
export const queues = {
  /** rewards -> payouts: a payout request with its ledger hold in place. Job id = data = payout_id. */
  payoutRequests: { name: 'payout-requests', jobName: 'payout' },
} as const;

export interface PayoutRequestJob { payoutId: string }

/**
 * payouts -> rewards: what the provider said about some payouts, applied to the ledger together (a
 * batch's 1,000 settles in one transaction). Job id = a hash of the list, so a repeat enqueues once.
 */
export const payoutOutcomes = { name: 'payout-outcomes', jobName: 'outcomes' } as const;
export interface PayoutOutcome { payoutId: string; outcome: 'settle' | 'release' | 'reverse' }
export interface PayoutOutcomeJob { outcomes: PayoutOutcome[] }
