// Benchmark baseline for the aggregator: the same topics read by a bare consumer that decodes each
// record and inserts the same ads.events and ads.confirmations rows, with no claims, no attribution,
// no join, no Redis, one insert per fetched batch. What is left between this and the aggregator is
// the cost of exactly-once, attribution and the join. Rows go as JSONEachRow (the baseline issues 4
// and 25 were measured against), or with BASELINE_FORMAT=rowbinary as the aggregator sends them.
// Env: BASELINE_TOPIC, BASELINE_CONFIRMATIONS_TOPIC, BASELINE_GROUP, BASELINE_FORMAT, CLICKHOUSE_URL,
// CLICKHOUSE_DATABASE, KAFKA_BROKERS.
import { createClient } from '@clickhouse/client';
import { z } from 'zod';
import { readConfirmation } from '../aggregator/confirmations.js';
import { readRecord } from '../aggregator/records.js';
import { confirmationRow, eventRow, rowsOf } from '../aggregator/rows.js';
import { createClickhouseWarehouse } from '../aggregator/warehouse-clickhouse.js';
import { loadConfig, stackEnv } from '../common/config.js';
import { createKafka } from '../common/kafka.js';
import { createLogger } from '../common/log.js';

const config = loadConfig(
  z.object({
    ...stackEnv,
    BASELINE_TOPIC: z.string(),
    BASELINE_CONFIRMATIONS_TOPIC: z.string(),
    BASELINE_GROUP: z.string(),
    BASELINE_FORMAT: z.enum(['json', 'rowbinary']).default('json'),
  }),
  process.env,
);
const log = createLogger('baseline', 'warn');
const clickhouse = createClient({ url: config.CLICKHOUSE_URL, database: config.CLICKHOUSE_DATABASE });
const consumer = createKafka({ ...config, clientId: 'baseline' }, { log }).consumer({
  groupId: config.BASELINE_GROUP,
  maxBytesPerPartition: 8 * 1024 * 1024,
  maxBytes: 48 * 1024 * 1024,
});
const WINDOW_MS = 3_600_000;
const warehouse = createClickhouseWarehouse({ clickhouse });
const insert = (table: 'events' | 'confirmations', values: object[]) =>
  config.BASELINE_FORMAT === 'json'
    ? clickhouse.insert({ table, values, format: 'JSONEachRow' })
    : warehouse.insert([rowsOf({ [table]: values })]);
await consumer.connect();
await consumer.subscribe({ topics: [config.BASELINE_TOPIC, config.BASELINE_CONFIRMATIONS_TOPIC], fromBeginning: true });
await consumer.run({
  partitionsConsumedConcurrently: 6,
  eachBatch: async ({ batch }) => {
    const at = (offset: string) => ({ topic: batch.topic, partition: batch.partition, offset });
    if (batch.topic === config.BASELINE_CONFIRMATIONS_TOPIC) {
      const rows = batch.messages.flatMap((m) => {
        const read = readConfirmation(m.value, at(m.offset));
        return read.ok ? [confirmationRow(read.confirmation, WINDOW_MS)] : [];
      });
      await insert('confirmations', rows);
      return;
    }
    const rows = batch.messages.flatMap((m) => {
      const read = readRecord(m.value, at(m.offset));
      return read.ok ? read.events.map((e) => eventRow(e, { invalidReason: e.givt, earns: false })) : [];
    });
    await insert('events', rows);
  },
});
process.on('SIGTERM', () => void consumer.disconnect().then(() => process.exit(0)));
