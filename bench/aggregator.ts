// `npm run bench:aggregator`: events/s from Kafka through dedup, attribution and the join with their
// confirmations into ClickHouse, with the consumer group's lag back to zero on both topics, next to a
// bare consume-and-insert baseline of the same two topics measured in the same run (interleaved
// rounds, medians); then the latency from produce to queryable at a steady rate. Writes its section
// of bench/RESULTS.md, prints one final line, exits 1 when a target is missed.
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { EventType } from '../schemas/beacon-json.js';
import { pipeline } from '../schemas/gen/messages.js';
import { migrateClickhouse } from '../schemas/migrate.js';
import { groupLag, waitForMembers } from '../test/support.js';
import { cpuSeconds, rssMb, startService, stopService } from './proc.js';
import { median, percentile, writeSection } from './results.js';
import { benchKafka, env, log, root, stackUp } from './setup.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 600_000);
const STEADY_RATE = Number(process.env.BENCH_STEADY_EVENTS_PER_S ?? 10_000);
const STEADY_SECONDS = Number(process.env.BENCH_STEADY_SECONDS ?? 20);
const EVENTS_PER_RECORD = 10;
const targets = { eventsPerS: 50_000, p99Ms: 5_000 };

stackUp();

const run = randomBytes(3).toString('hex');
const databases = { aggregator: `bench_agg_${run}`, baseline: `bench_base_${run}` };
for (const database of Object.values(databases)) {
  await migrateClickhouse({ CLICKHOUSE_URL: env.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: database }, { log, dir: join(root, 'schemas/migrations/clickhouse') });
}
const ch = createClient({ url: env.CLICKHOUSE_URL });
const bench = await benchKafka(run);
const { admin, producer, newTopic } = bench;
const redisPrefix = `bench:${run}:`;
const [earnings, deadLetters] = [await newTopic('earnings', 1), await newTopic('deadletters', 1)];

// Realistic traffic: 20,000 users, records of 10 events of one user, mostly impressions, with the
// clicks, completions and conversions that attribution works on. Each completion and conversion has
// its confirmation (an ad network's callback, an advertiser's postback), a second later, on the
// confirmations topic: the aggregator pairs them (one in ten events).
const mix = ['IMPRESSION', 'IMPRESSION', 'IMPRESSION', 'IMPRESSION', 'IMPRESSION', 'IMPRESSION', 'VIEWABLE', 'VIEWABLE', 'CLICK', 'REWARD_COMPLETE', 'IMPRESSION', 'IMPRESSION', 'IMPRESSION', 'VIEWABLE', 'CLICK', 'IMPRESSION', 'IMPRESSION', 'IMPRESSION', 'CONVERSION', 'IMPRESSION'] as const;
let seq = 0;
type Rec = { key: string; value: Buffer };
function confirmation(e: { eventId: string; type: EventType; userId: string; campaignId: string }, receivedAt: number): Rec {
  const postback = e.type === EventType.CONVERSION;
  const value = pipeline.v1.Confirmation.encode({
    version: 1, source: postback ? 'postback' : 'admob', transactionId: postback ? `${e.campaignId}:${e.eventId}` : randomUUID(),
    appId: 'bench.app', userId: e.userId, campaignId: e.campaignId, eventId: e.eventId, receivedAt, occurredAt: receivedAt, // the ad unit's campaign
    keyId: 'bench-key', ...(postback ? {} : { adUnit: 'bench-unit', rewardItem: 'coins', rewardAmount: 10 }),
  }).finish();
  return { key: e.userId, value: Buffer.from(value) };
}
function traffic(count: number, receivedAt = Date.now()): { beacons: Rec[]; confirmations: Rec[] } {
  const confirmations: Rec[] = [];
  const beacons = Array.from({ length: count }, () => {
    const user = seq % 20_000;
    const events = Array.from({ length: EVENTS_PER_RECORD }, () => {
      const t = receivedAt - 600_000 + (seq % 600) * 1_000;
      const event = {
        eventId: randomUUID(), type: EventType[mix[seq++ % mix.length]!],
        occurredAt: t, userId: `user-${user}`, deviceId: `device-${user}`, campaignId: `campaign-${user % 40}`, creativeId: `creative-${user % 7}`, placementId: `placement-${user % 13}`,
      };
      if (event.type === EventType.REWARD_COMPLETE || event.type === EventType.CONVERSION) confirmations.push(confirmation(event, receivedAt + 1_000));
      return { eventTime: t, event };
    });
    const value = pipeline.v1.AcceptedBeacons.encode({
      version: 1, appId: 'bench.app', sdk: 'bench/1', keyId: 'k_bench', sentAt: receivedAt, receivedAt, ipHash: 'ab', uaClass: 'app', country: '', invalidReason: '', events,
    }).finish();
    return { key: `user-${user}`, value: Buffer.from(value) };
  });
  return { beacons, confirmations };
}
async function produce(topic: string, recs: { key: string; value: Buffer }[]) {
  for (let i = 0; i < recs.length; i += 2_000) {
    await producer.send([{ topic, messages: recs.slice(i, i + 2_000) }], { compression: 'snappy' });
  }
}

const count = async (database: string, table: 'events' | 'confirmations' = 'events') =>
  Number((await (await ch.query({ query: `SELECT count() AS n FROM ${database}.${table}`, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n);


function start(kind: 'aggregator' | 'baseline', topics: { beacons: string; confirmations: string }, group: string): ChildProcess {
  const entry = kind === 'aggregator' ? 'aggregator/main.ts' : 'bench/baseline-consume.ts';
  return startService(entry, {
      LOG_LEVEL: 'warn', CLICKHOUSE_DATABASE: databases[kind], AGGREGATOR_PORT: '0', AGGREGATOR_TOPIC: topics.beacons,
      AGGREGATOR_CONFIRMATIONS_TOPIC: topics.confirmations, AGGREGATOR_GROUP: group,
      AGGREGATOR_EARNINGS_TOPIC: earnings, AGGREGATOR_DEADLETTER_TOPIC: deadLetters, AGGREGATOR_REDIS_PREFIX: redisPrefix,
      BASELINE_TOPIC: topics.beacons, BASELINE_CONFIRMATIONS_TOPIC: topics.confirmations, BASELINE_GROUP: group,
  });
}

interface Round { eventsPerS: number; cpu: number; peakRssMb: number }
/** Preloads the topics, starts the consumer, and measures from the moment it holds its partitions
 * (the group is stable) until every event and confirmation is in ClickHouse and, for the aggregator,
 * no lag is left on either topic. */
async function throughput(kind: 'aggregator' | 'baseline', round: number): Promise<Round> {
  const topics = { beacons: await newTopic(`${kind}${round}`), confirmations: await newTopic(`${kind}${round}conf`) };
  const load = traffic(EVENTS / EVENTS_PER_RECORD);
  await produce(topics.beacons, load.beacons);
  await produce(topics.confirmations, load.confirmations);
  const group = `bench-${kind}-${round}-${run}`;
  const before = { events: await count(databases[kind]), confirmations: await count(databases[kind], 'confirmations') };
  const child = start(kind, topics, group);
  await waitForMembers(admin, group, { members: 1, timeoutMs: 60_000, pollMs: 20 });
  const t0 = performance.now();
  const cpu0 = cpuSeconds(child);
  let peak = 0;
  for (;;) {
    await sleep(50);
    peak = Math.max(peak, rssMb(child));
    const n = (await count(databases[kind])) - before.events;
    if (n < EVENTS || (await count(databases[kind], 'confirmations')) - before.confirmations < load.confirmations.length) continue;
    if (kind === 'baseline') break;
    if ((await groupLag(admin, group, topics.beacons)) === 0 && (await groupLag(admin, group, topics.confirmations)) === 0) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  const result = { eventsPerS: EVENTS / seconds, cpu: (cpuSeconds(child) - cpu0) / seconds, peakRssMb: peak };
  await stopService(child);
  return result;
}

// Latency at a steady rate, measured first, on a quiet machine: each produced chunk is queryable when ClickHouse's count passes it.
const steadyTopics = { beacons: await newTopic('steady'), confirmations: await newTopic('steadyconf') };
const steadyGroup = `bench-steady-${run}`;
const child = start('aggregator', steadyTopics, steadyGroup);
await sleep(8_000); // started and joined the group
const base = await count(databases.aggregator);
const produced: { t: number; total: number }[] = [];
const seen: { t: number; n: number }[] = [];
let polling = true;
const poller = (async () => {
  while (polling) {
    seen.push({ t: performance.now(), n: (await count(databases.aggregator)) - base });
    await sleep(50);
  }
})();
const tick = 100;
let total = 0;
const t0 = performance.now();
while (performance.now() - t0 < STEADY_SECONDS * 1000) {
  const chunk = traffic(STEADY_RATE / EVENTS_PER_RECORD / (1000 / tick));
  const t = performance.now();
  await producer.send([{ topic: steadyTopics.beacons, messages: chunk.beacons }, { topic: steadyTopics.confirmations, messages: chunk.confirmations }], { compression: 'snappy' });
  total += chunk.beacons.length * EVENTS_PER_RECORD;
  produced.push({ t, total });
  await sleep(Math.max(0, tick - (performance.now() - t)));
}
while (seen.at(-1)!.n < total) await sleep(100);
polling = false;
await poller;
const latencies = produced.map((p) => seen.find((s) => s.n >= p.total)!.t - p.t);
const pct = (q: number) => percentile(latencies, q);
await stopService(child);

const rounds: Record<'aggregator' | 'baseline', Round[]> = { aggregator: [], baseline: [] };
for (let r = 1; r <= ROUNDS; r++) {
  for (const kind of ['baseline', 'aggregator'] as const) rounds[kind].push(await throughput(kind, r));
  console.log(`round ${r}/${ROUNDS}: baseline ${rounds.baseline.at(-1)!.eventsPerS.toFixed(0)} events/s, aggregator ${rounds.aggregator.at(-1)!.eventsPerS.toFixed(0)} events/s`);
}

// Clean up everything this run made.
await bench.close();
for (const database of Object.values(databases)) await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` });
const redis = new Redis(env.REDIS_URL);
const redisKeys = await (async () => {
  let deleted = 0;
  for (let cursor = '0'; ;) {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${redisPrefix}*`, 'COUNT', 5_000);
    if (keys.length > 0) deleted += await redis.unlink(...keys);
    if ((cursor = next) === '0') return deleted;
  }
})();
await redis.bgrewriteaof(); // the append-only log still holds them: compact it (stack.sh start_redis)
await Promise.all([redis.quit(), ch.close()]);

const m = (kind: 'aggregator' | 'baseline', f: (r: Round) => number) => median(rounds[kind].map(f));
const fig = {
  eventsPerS: m('aggregator', (r) => r.eventsPerS), baselineEventsPerS: m('baseline', (r) => r.eventsPerS),
  cpu: m('aggregator', (r) => r.cpu), baselineCpu: m('baseline', (r) => r.cpu),
  rss: Math.max(...rounds.aggregator.map((r) => r.peakRssMb)), baselineRss: Math.max(...rounds.baseline.map((r) => r.peakRssMb)),
  p50: pct(0.5), p99: pct(0.99),
};
const checks = {
  [`≥ ${targets.eventsPerS.toLocaleString('en-US')} events/s with lag back to zero`]: fig.eventsPerS >= targets.eventsPerS,
  [`produce-to-queryable p99 ≤ ${targets.p99Ms} ms`]: fig.p99 <= targets.p99Ms,
};
const pass = Object.values(checks).every(Boolean);
const n = (x: number) => Math.round(x).toLocaleString('en-US');

writeSection('aggregator', `## aggregator: dedup and attribution into ClickHouse (\`npm run bench:aggregator\`)

Run ${new Date().toISOString().slice(0, 16)}Z: ${ROUNDS} interleaved rounds (medians), each a fresh topic of 6 partitions preloaded
with ${n(EVENTS)} events (records of ${EVENTS_PER_RECORD} events of one user; 20,000 users; impressions, viewables, clicks,
completions, conversions), and a confirmations topic of 6 partitions with one confirmation per completion and
conversion (${n(EVENTS / 10)}), timed from the moment the consumer holds its partitions until every event and
confirmation is in ClickHouse and the group's lag is zero on both. Kafka, ClickHouse, Redis and the consumer share the 2 cores.

| what | events/s | consumer CPU (cores) | peak RSS MB |
|---|---:|---:|---:|
| baseline: bare consumer of both topics, decode, insert the same event and confirmation rows (no claims, no attribution, no join) | ${n(fig.baselineEventsPerS)} | ${fig.baselineCpu.toFixed(2)} | ${n(fig.baselineRss)} |
| aggregator: claims in Redis, attribution, the join with confirmations, group commit, earnings to Kafka | ${n(fig.eventsPerS)} (${((fig.eventsPerS / fig.baselineEventsPerS) * 100).toFixed(0)} % of baseline) | ${fig.cpu.toFixed(2)} | ${n(fig.rss)} |

Latency from produce (acks=all) to queryable in ClickHouse at a steady ${n(STEADY_RATE)} events/s for ${STEADY_SECONDS} s
(flush interval 1 s; ClickHouse polled every 50 ms): p50 ${n(fig.p50)} ms, p99 ${n(fig.p99)} ms.
Redis keys left by the run (claims and attribution state, deleted afterwards): ${n(redisKeys)}.

| target | met |
|---|---|
${Object.entries(checks).map(([k, v]) => `| ${k} | ${v ? 'yes' : '**no**'} |`).join('\n')}
`);

console.log(`bench:aggregator events_per_s=${n(fig.eventsPerS)} baseline=${n(fig.baselineEventsPerS)} ratio=${((fig.eventsPerS / fig.baselineEventsPerS) * 100).toFixed(0)}% ` +
  `p50=${n(fig.p50)}ms p99=${n(fig.p99)}ms rss=${n(fig.rss)}MB ${pass ? 'PASS' : 'FAIL'}`);
process.exit(pass ? 0 : 1);
