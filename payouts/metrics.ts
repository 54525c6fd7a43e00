// Prometheus metrics of the payouts service (GET /metrics on the ops listener, PAYOUTS_OPS_PORT), named payouts_<thing>.
import client from 'prom-client';

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'payouts_' });
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new client.Counter({ name: `payouts_${name}_total`, help, labelNames, registers: [registry] });
  const calls = counter('provider_calls', 'WeChat Pay calls by operation and answer code', ['op', 'code']);
  const outcomes = counter('outcomes', 'Transfer outcomes the provider gave, by outcome', ['outcome']);
  const held = counter('held_for_review', 'Payouts held for review by the risk checks');
  const attention = counter(
    'batches_needing_attention',
    'Batches a person must look at (configuration, or a number reused with other parameters)',
  );
  const callbacks = counter('callbacks', 'WeChat Pay callbacks by result', ['result']);
  const unexplained = new client.Gauge({
    name: 'payouts_reconciliation_unexplained',
    help: 'Discrepancies the last reconciliation could not explain',
    registers: [registry],
  });
  const requests = counter('http_requests', 'API responses by status', ['status']);
  const cancels = counter(
    'bill_cancels',
    "Transfer-bill cancel calls by WeChat's answer (its state, or a refusal code)",
    ['answer'],
  );
  const packages = counter(
    'bill_packages_refreshed',
    'Confirm-page packages fetched again (a bill created again with the same number)',
  );
  const topups = counter('topups', 'Top-up orders by what happened: created, open, refused, paid, closed, attention', [
    'event',
  ]);
  const topupRefunds = counter(
    'topup_refunds',
    'Top-up refund parts by what happened: processing, succeeded, failed, attention, refused (held for a person)',
    ['outcome'],
  );
  const topupNotifications = counter(
    'topup_notifications',
    'Pay-in notifications (v3, v2 pay, v2 refund) by result: applied, unknown_reference, rejected, failed',
    ['kind', 'result'],
  );
  return {
    registry,
    called: (op: string, code: string) => calls.inc({ op, code }),
    outcome: (outcome: string, n = 1) => outcomes.inc({ outcome }, n),
    held: (n: number) => held.inc(n),
    attention: () => attention.inc(),
    callback: (result: string) => callbacks.inc({ result }),
    unexplained: (n: number) => unexplained.set(n),
    responded: (status: number) => requests.inc({ status: String(status) }),
    cancelCalled: (answer: string) => cancels.inc({ answer }),
    packages: (n: number) => packages.inc(n),
    topup: (event: string) => topups.inc({ event }),
    topupRefund: (outcome: string) => topupRefunds.inc({ outcome }),
    topupNotification: (kind: string, result: string) => topupNotifications.inc({ kind, result }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
