// Every BullMQ queue between services. Job ids are deterministic, so a repeated hand-off enqueues once.
export const queues = {
  /** rewards -> payouts: a payout request with its ledger hold in place. Job id = data = payout_id. */
  payoutRequests: { name: 'payout-requests', jobName: 'payout' },
} as const;

export interface PayoutRequestJob { payoutId: string }

/** payouts -> rewards: what the provider said, for the ledger. Job id = `<payout_id>-<outcome>`. */
export const payoutOutcomes = { name: 'payout-outcomes', jobName: 'outcome' } as const;
export interface PayoutOutcomeJob { payoutId: string; outcome: 'settle' | 'release' | 'reverse' }
