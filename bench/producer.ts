// `npm run bench:producer`: the client CPU a produced record costs, for the home-made producer
// (common/kafka-producer.ts) against kafkajs's, each idempotent with acks=all and snappy, one send in
// flight as the collector runs them, on the local broker's plain listener and on its TLS + SCRAM one.
// Sends of 1 record (a lone beacon) and of 100 (the collector's batches under load). Rounds are
// interleaved; figures are medians. Writes its section of bench/RESULTS.md and prints the table.
import { randomBytes } from 'node:crypto';
import { CompressionTypes } from 'kafkajs';
import type { KafkaConnection } from '../common/kafka-security.js';
import { createKafka } from '../common/kafka.js';
import { createProducer } from '../common/kafka-producer.js';
import { median, writeSection } from './results.js';
import { securedKafka } from '../test/support.js';
import { benchKafka, env, log, stackUp } from './setup.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RECORDS = Number(process.env.BENCH_RECORDS ?? 20_000);

stackUp();
const bench = await benchKafka(randomBytes(3).toString('hex'));
const topic = await bench.newTopic('producer', 6);

const listeners: Record<string, KafkaConnection> = {
  plain: { KAFKA_BROKERS: env.KAFKA_BROKERS },
  'TLS + SCRAM-SHA-512': securedKafka.sasl('scram-sha-512'),
};
type Send = (messages: { key: Buffer; value: Buffer }[]) => Promise<unknown>;
const clients: Record<string, (c: KafkaConnection) => Promise<{ send: Send; close(): Promise<void> }>> = {
  async 'home-made'(c) {
    const p = createProducer({ ...c, clientId: 'bench' }, { log });
    await p.connect([topic]);
    return { send: (messages) => p.send([{ topic, messages }], { compression: 'snappy' }), close: p.disconnect };
  },
  async kafkajs(c) {
    const p = createKafka({ ...c, clientId: 'bench' }, { log }).producer({ idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    return {
      send: (messages) => p.send({ topic, messages, acks: -1, compression: CompressionTypes.Snappy }),
      close: () => p.disconnect(),
    };
  },
};

// A beacon record's shape: a user id key and a ~300-byte protobuf-sized value.
const records = Array.from({ length: RECORDS }, (_, i) => ({
  key: Buffer.from(`user-${i % 5_000}`),
  value: randomBytes(300),
}));

/** CPU µs per record and records/s for one client, listener and send size. */
async function round(client: string, listener: string, perSend: number) {
  const p = await clients[client]!(listeners[listener]!);
  await p.send(records.slice(0, perSend)); // connected, authenticated, metadata read
  const count = perSend === 1 ? RECORDS / 10 : RECORDS;
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let at = 0; at < count; at += perSend) await p.send(records.slice(at, at + perSend));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await p.close();
  return { usPerRecord: (used.user + used.system) / count, perS: count / seconds };
}

const cases = Object.keys(listeners).flatMap((listener) =>
  [1, 100].flatMap((perSend) => Object.keys(clients).map((client) => ({ client, listener, perSend }))),
);
const seen = new Map<(typeof cases)[number], { usPerRecord: number; perS: number }[]>();
for (let r = -1; r < ROUNDS; r++) {
  for (const c of cases) {
    const result = await round(c.client, c.listener, c.perSend);
    if (r >= 0) seen.set(c, [...(seen.get(c) ?? []), result]); // round -1 warms the code up
  }
}
await bench.close();

const rows = cases.map((c) => {
  const runs = seen.get(c)!;
  const us = median(runs.map((x) => x.usPerRecord));
  const homeMade = cases.find((h) => h.client === 'home-made' && h.listener === c.listener && h.perSend === c.perSend)!;
  const ratio = us / median(seen.get(homeMade)!.map((x) => x.usPerRecord));
  return `| ${c.client} | ${c.listener} | ${c.perSend} | ${us.toFixed(1)} | ${c.client === 'home-made' ? '' : `×${ratio.toFixed(1)}`} | ${Math.round(median(runs.map((x) => x.perS))).toLocaleString('en-US')} |`;
});
const table = `| client | listener | records per send | CPU µs per record | against home-made | records/s |
|---|---|---:|---:|---:|---:|
${rows.join('\n')}`;
writeSection(
  'producer',
  `## producer: client CPU per produced record (\`npm run bench:producer\`)

Run ${new Date().toISOString().slice(0, 16)}Z: a warm-up round, then ${ROUNDS} interleaved rounds (medians) of ${RECORDS.toLocaleString('en-US')} records (${(RECORDS / 10).toLocaleString('en-US')} for single-record sends) of 300 bytes,
idempotent, acks=all, snappy, one send in flight, to a 6-partition topic. CPU is the producing
process's own (user + system), so the broker's share is left out.

${table}`,
);
console.log(table);
process.exit(0);
