// Prometheus metrics of the aggregator (GET /metrics on AGGREGATOR_PORT), named aggregator_<thing>.
import client from 'prom-client';

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'aggregator_' });
  const events = new client.Counter({
    name: 'aggregator_events_total', help: 'Events read from the beacon topic, by outcome (inserted, duplicate, redelivered)',
    labelNames: ['outcome'], registers: [registry],
  });
  const deadLetters = new client.Counter({ name: 'aggregator_dead_letters_total', help: 'Poison records sent to the dead-letter topic', registers: [registry] });
  const earnings = new client.Counter({ name: 'aggregator_earnings_total', help: 'Verified earnings produced', registers: [registry] });
  const writes = new client.Histogram({
    name: 'aggregator_group_write_seconds', help: 'Time to write one group (ClickHouse inserts and Kafka produce)',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10], registers: [registry],
  });
  const failures = new client.Counter({ name: 'aggregator_group_write_failures_total', help: 'Group writes that failed and were retried', registers: [registry] });
  return {
    registry,
    batch(counts: { events: number; duplicates: number; redelivered: number; deadLettered: number }, earned: number) {
      events.inc({ outcome: 'inserted' }, counts.events);
      events.inc({ outcome: 'duplicate' }, counts.duplicates);
      events.inc({ outcome: 'redelivered' }, counts.redelivered);
      deadLetters.inc(counts.deadLettered);
      earnings.inc(earned);
    },
    writeTimer: () => writes.startTimer(),
    writeFailed: () => failures.inc(),
  };
}
