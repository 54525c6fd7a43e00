// Every BullMQ queue between services. Job ids are deterministic, so a repeated hand-off enqueues once.
export const queues = {
  /** rewards -> payouts: a payout request with its ledger hold in place. Job id = data = payout_id. */
  payoutRequests: { name: 'payout-requests', jobName: 'payout' },
} as const;

export interface PayoutRequestJob { payoutId: string }
