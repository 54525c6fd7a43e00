// Prometheus metrics of the rewards service (GET /metrics on the ops listener, REWARDS_OPS_PORT), named rewards_<thing>.
import client from 'prom-client';
import type { EarningRecord } from './earnings.js';

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'rewards_' });
  const earnings = new client.Counter({
    name: 'rewards_earnings_total',
    help: 'Earnings read, by outcome (posted, replayed, refused, review) and the reason of a refusal or a hold',
    labelNames: ['outcome', 'reason'],
    registers: [registry],
  });
  const paid = new client.Counter({
    name: 'rewards_earned_fen_total',
    help: 'Fen credited to users',
    registers: [registry],
  });
  const deadLetters = new client.Counter({
    name: 'rewards_dead_letters_total',
    help: 'Poison earnings records dead-lettered',
    registers: [registry],
  });
  const payouts = new client.Counter({
    name: 'rewards_payouts_requested_total',
    help: 'Payout requests (with their hold) created',
    labelNames: ['source'],
    registers: [registry],
  });
  const finished = new client.Counter({
    name: 'rewards_payouts_finished_total',
    help: 'Payout outcomes from the payouts service, by outcome and result',
    labelNames: ['outcome', 'result'],
    registers: [registry],
  });
  const retries = new client.Counter({
    name: 'rewards_ledger_retries_total',
    help: 'Units of work retried, by SQLSTATE',
    labelNames: ['code'],
    registers: [registry],
  });
  const batches = new client.Histogram({
    name: 'rewards_batch_seconds',
    help: 'Time to post one batch of earnings (one database transaction)',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
    registers: [registry],
  });
  const funding = new client.Counter({
    name: 'rewards_funding_outcomes_total',
    help: 'Funding outcomes from the payouts service (credit, refund_settle, refund_release), by result (created, exists, or why set aside)',
    labelNames: ['kind', 'result'],
    registers: [registry],
  });
  const refunds = new client.Counter({
    name: 'rewards_campaign_refunds_total',
    help: 'Campaign refunds accepted (their hold posted)',
    registers: [registry],
  });
  const requests = new client.Counter({
    name: 'rewards_http_requests_total',
    help: 'API responses by status',
    labelNames: ['status'],
    registers: [registry],
  });
  return {
    registry,
    posted(records: EarningRecord[], replayed: number) {
      earnings.inc({ outcome: 'replayed', reason: '' }, replayed);
      for (const r of records) {
        if (r.outcome.status === 'posted') paid.inc(Number(r.amountFen));
        earnings.inc({ outcome: r.outcome.status, reason: r.outcome.status === 'posted' ? '' : r.outcome.reason });
      }
    },
    deadLettered: (n: number) => deadLetters.inc(n),
    payoutRequested: (source: string) => payouts.inc({ source }),
    payoutFinished: (outcome: string, result: string) => finished.inc({ outcome, result }),
    retried: (code: string) => retries.inc({ code }),
    fundingApplied: (kind: string, result: string) => funding.inc({ kind, result }),
    refundRequested: () => refunds.inc(),
    batchTimer: () => batches.startTimer(),
    responded: (status: number) => requests.inc({ status: String(status) }),
  };
}
