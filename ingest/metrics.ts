// Prometheus metrics of the collector (GET /metrics), named ingest_<thing>_total.
import client from 'prom-client';
import type { CollectorMetrics } from './collector.js';
import type { ConfirmationMetrics } from './confirmations.js';

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'ingest_' });
  const requests = new client.Counter({
    name: 'ingest_requests_total',
    help: 'Beacon requests by status and error code',
    labelNames: ['status', 'error'],
    registers: [registry],
  });
  const accepted = new client.Counter({
    name: 'ingest_events_accepted_total',
    help: 'Events acknowledged by Kafka',
    registers: [registry],
  });
  const rejected = new client.Counter({
    name: 'ingest_events_rejected_total',
    help: 'Events rejected individually, by field',
    labelNames: ['reason'],
    registers: [registry],
  });
  const confirmations = new client.Counter({
    name: 'ingest_confirmations_total',
    help: 'S2S callbacks and postbacks by source (admob, hmac, postback) and outcome (recorded or the error code)',
    labelNames: ['source', 'outcome'],
    registers: [registry],
  });
  const audit = new client.Counter({
    name: 'ingest_audit_samples_total',
    help: 'Rejected requests sampled to beacons.rejected.v1',
    labelNames: ['result'],
    registers: [registry],
  });
  /** Gauges read at scrape time from the parts built after the metrics. */
  function watch(deps: { queueDepth(): { events: number; bytes: number }; brokerHealthy(): boolean }) {
    new client.Gauge({
      name: 'ingest_queue_events',
      help: 'Events waiting for a Kafka acknowledgement',
      registers: [registry],
      collect() {
        this.set(deps.queueDepth().events);
      },
    });
    new client.Gauge({
      name: 'ingest_queue_bytes',
      help: 'Bytes waiting for a Kafka acknowledgement',
      registers: [registry],
      collect() {
        this.set(deps.queueDepth().bytes);
      },
    });
    new client.Gauge({
      name: 'ingest_broker_up',
      help: '1 while the broker accepts produce requests',
      registers: [registry],
      collect() {
        this.set(deps.brokerHealthy() ? 1 : 0);
      },
    });
  }

  const collector: CollectorMetrics = {
    response: (status, error) => requests.inc({ status, error }),
    eventsAccepted: (n) => accepted.inc(n),
    eventsRejected: (reason, n) => rejected.inc({ reason }, n),
  };
  const confirmation: ConfirmationMetrics = {
    confirmation: (source, outcome) => confirmations.inc({ source, outcome }),
  };
  return { registry, collector, confirmation, watch, audit: (result: string) => audit.inc({ result }) };
}
