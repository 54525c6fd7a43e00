// Prometheus metrics of the aggregator (GET /metrics on AGGREGATOR_PORT), named aggregator_<thing>.
import client from 'prom-client';

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'aggregator_' });
  const events = new client.Counter({
    name: 'aggregator_events_total',
    help: 'Events read from the beacon topic, by outcome (inserted, duplicate, redelivered)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const deadLetters = new client.Counter({
    name: 'aggregator_dead_letters_total',
    help: 'Poison records sent to the dead-letter topic',
    registers: [registry],
  });
  const confirmations = new client.Counter({
    name: 'aggregator_confirmations_total',
    help: 'Confirmations read from the confirmations topic, by outcome (inserted, duplicate, redelivered)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const verifications = new client.Counter({
    name: 'aggregator_verifications_total',
    help: "Pairs and lone confirmations decided, by reason ('' earns)",
    labelNames: ['reason'],
    registers: [registry],
  });
  const earnings = new client.Counter({
    name: 'aggregator_earnings_total',
    help: 'Verified earnings produced (confirmed pairs that earn)',
    registers: [registry],
  });
  const writes = new client.Histogram({
    name: 'aggregator_group_write_seconds',
    help: 'Time to write one group (ClickHouse inserts and Kafka produce)',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers: [registry],
  });
  const failures = new client.Counter({
    name: 'aggregator_group_write_failures_total',
    help: 'Group writes that failed and were retried',
    registers: [registry],
  });
  const caughtUp = new client.Gauge({
    name: 'aggregator_state_catch_up_seconds',
    help: "How long each state partition's last catch-up with its changelog took",
    labelNames: ['partition'],
    registers: [registry],
  });
  const replayed = new client.Counter({
    name: 'aggregator_state_replayed_entries_total',
    help: 'Changelog entries applied by catch-ups (not by the steps that wrote them)',
    labelNames: ['partition'],
    registers: [registry],
  });
  return {
    registry,
    /** A state partition caught up with its changelog (partitions.ts). */
    caughtUp(partition: number, seconds: number, entries: number) {
      caughtUp.set({ partition }, seconds);
      replayed.inc({ partition }, entries);
    },
    /** What the owned partitions' state holds, read when scraped. */
    stateSize(
      read: () => {
        partition: number;
        claims: { ids: number; diskBytes: number; ramBytes: number };
        kv: { keys: number; diskBytes: number };
      }[],
    ) {
      new client.Gauge({
        name: 'aggregator_state_bytes',
        help: 'Bytes of state held by the owned partitions: remembered claims on disk and in RAM, the key-value store on disk',
        labelNames: ['store', 'where'],
        registers: [registry],
        collect() {
          const all = read();
          const sum = (f: (x: (typeof all)[number]) => number) => all.reduce((n, x) => n + f(x), 0);
          this.set(
            { store: 'claims', where: 'disk' },
            sum((x) => x.claims.diskBytes),
          );
          this.set(
            { store: 'claims', where: 'ram' },
            sum((x) => x.claims.ramBytes),
          );
          this.set(
            { store: 'kv', where: 'disk' },
            sum((x) => x.kv.diskBytes),
          );
        },
      });
      new client.Gauge({
        name: 'aggregator_state_claims',
        help: 'Ids the owned partitions remember (events and confirmations, for the dedup window)',
        registers: [registry],
        collect() {
          this.set(read().reduce((n, x) => n + x.claims.ids, 0));
        },
      });
    },
    /** A written step of the beacon topic ('events') or of the confirmations topic. */
    batch(
      kind: 'events' | 'confirmations',
      output: {
        counts: { events: number; duplicates: number; redelivered: number; deadLettered: number };
        verdicts: string[];
        earnings: unknown[];
      },
    ) {
      const { counts } = output;
      const read = kind === 'events' ? events : confirmations;
      read.inc({ outcome: 'inserted' }, counts.events);
      read.inc({ outcome: 'duplicate' }, counts.duplicates);
      read.inc({ outcome: 'redelivered' }, counts.redelivered);
      deadLetters.inc(counts.deadLettered);
      for (const reason of output.verdicts) verifications.inc({ reason });
      earnings.inc(output.earnings.length);
    },
    writeTimer: () => writes.startTimer(),
    writeFailed: () => failures.inc(),
  };
}
