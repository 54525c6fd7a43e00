// `npm run bench:aggregator`: events/s from Kafka through dedup, attribution and the join with their
// confirmations into ClickHouse, with the consumer group's lag back to zero on both topics, next to a
// bare consume-and-insert baseline of the same two topics measured in the same run (interleaved
// rounds, medians); the latency from produce to queryable at a steady rate; what the partitions'
// state costs per remembered event; and how long the state takes to come back after a SIGKILL and
// on a host with an empty disk. Writes its section of bench/RESULTS.md, prints one final line, exits
// 1 when a target is missed.
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { EventType } from '../schemas/beacon-json.js';
import { pipeline } from '../schemas/gen/messages.js';
import { migrateClickhouse } from '../schemas/migrate.js';
import { topics } from '../schemas/topics.js';
import { freePort, groupLag, waitForMembers } from '../test/support.js';
import { cpuSeconds, rssMb, stackServers, startService, stopService } from './proc.js';
import { median, percentile, writeSection } from './results.js';
import { benchKafka, env, log, root, stackUp } from './setup.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 600_000);
const STEADY_RATE = Number(process.env.BENCH_STEADY_EVENTS_PER_S ?? 10_000);
const STEADY_SECONDS = Number(process.env.BENCH_STEADY_SECONDS ?? 20);
const EVENTS_PER_RECORD = 10;
const targets = { share: 0.7, p99Ms: 5_000, rssMb: 1_024, diskBytesPerClaim: 32 };
const DAY_S = 86_400;
const PROFILING = (process.env.BENCH_NODE_FLAGS ?? '').includes('--cpu-prof');
const PROCESSES = Number(process.env.BENCH_AGGREGATOR_PROCESSES ?? 2);

stackUp();

const run = randomBytes(3).toString('hex');
const databases = { aggregator: `bench_agg_${run}`, baseline: `bench_base_${run}` };
for (const database of Object.values(databases)) {
  await migrateClickhouse(
    { CLICKHOUSE_URL: env.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: database },
    { log, dir: join(root, 'schemas/migrations/clickhouse') },
  );
}
const ch = createClient({ url: env.CLICKHOUSE_URL });
const bench = await benchKafka(run);
const { admin, producer, newTopic } = bench;
const redisPrefix = `bench:${run}:`;
const [earnings, deadLetters] = [await newTopic('earnings', 1), await newTopic('deadletters', 1)];
const stateRoot = mkdtempSync(join(tmpdir(), 'bench-agg-state-'));

// Realistic traffic: 20,000 users, records of 10 events of one user, mostly impressions, with the
// clicks, completions and conversions that attribution works on. Each completion and conversion has
// its confirmation (an ad network's callback, an advertiser's postback), a second later, on the
// confirmations topic: the aggregator pairs them (one in ten events).
const mix = [
  'IMPRESSION',
  'IMPRESSION',
  'IMPRESSION',
  'IMPRESSION',
  'IMPRESSION',
  'IMPRESSION',
  'VIEWABLE',
  'VIEWABLE',
  'CLICK',
  'REWARD_COMPLETE',
  'IMPRESSION',
  'IMPRESSION',
  'IMPRESSION',
  'VIEWABLE',
  'CLICK',
  'IMPRESSION',
  'IMPRESSION',
  'IMPRESSION',
  'CONVERSION',
  'IMPRESSION',
] as const;
let seq = 0;
type Rec = { key: string; value: Buffer };
function confirmation(
  e: { eventId: string; type: EventType; userId: string; campaignId: string },
  receivedAt: number,
): Rec {
  const postback = e.type === EventType.CONVERSION;
  const value = pipeline.v1.Confirmation.encode({
    version: 1,
    source: postback ? 'postback' : 'admob',
    transactionId: postback ? `${e.campaignId}:${e.eventId}` : randomUUID(),
    appId: 'bench.app',
    userId: e.userId,
    campaignId: e.campaignId,
    eventId: e.eventId,
    receivedAt,
    occurredAt: receivedAt, // the ad unit's campaign
    keyId: 'bench-key',
    ...(postback ? {} : { adUnit: 'bench-unit', rewardItem: 'coins', rewardAmount: 10 }),
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
        eventId: randomUUID(),
        type: EventType[mix[seq++ % mix.length]!],
        occurredAt: t,
        userId: `user-${user}`,
        deviceId: `device-${user}`,
        campaignId: `campaign-${user % 40}`,
        creativeId: `creative-${user % 7}`,
        placementId: `placement-${user % 13}`,
      };
      if (event.type === EventType.REWARD_COMPLETE || event.type === EventType.CONVERSION)
        confirmations.push(confirmation(event, receivedAt + 1_000));
      return { eventTime: t, event };
    });
    const value = pipeline.v1.AcceptedBeacons.encode({
      version: 1,
      appId: 'bench.app',
      sdk: 'bench/1',
      keyId: 'k_bench',
      sentAt: receivedAt,
      receivedAt,
      ipHash: 'ab',
      uaClass: 'app',
      country: '',
      invalidReason: '',
      events,
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
  Number(
    (
      await (
        await ch.query({ query: `SELECT count() AS n FROM ${database}.${table}`, format: 'JSONEachRow' })
      ).json<{ n: string }>()
    )[0]!.n,
  );

type Kind = 'aggregator' | 'baseline' | 'baselineRowBinary';
interface Setup {
  beacons: string;
  confirmations: string;
  changelog: string;
  group: string;
  stateDir: string;
  port: number;
}
function start(kind: Kind, t: Setup): ChildProcess {
  const entry = kind === 'aggregator' ? 'aggregator/main.ts' : 'bench/baseline-consume.ts';
  return startService(entry, {
    LOG_LEVEL: 'warn',
    CLICKHOUSE_DATABASE: databases[kind === 'aggregator' ? 'aggregator' : 'baseline'],
    AGGREGATOR_PORT: String(t.port),
    AGGREGATOR_TOPIC: t.beacons,
    AGGREGATOR_CONFIRMATIONS_TOPIC: t.confirmations,
    AGGREGATOR_GROUP: t.group,
    AGGREGATOR_CHANGELOG_TOPIC: t.changelog,
    AGGREGATOR_STATE_DIR: t.stateDir,
    AGGREGATOR_EARNINGS_TOPIC: earnings,
    AGGREGATOR_DEADLETTER_TOPIC: deadLetters,
    AGGREGATOR_REDIS_PREFIX: redisPrefix,
    BASELINE_TOPIC: t.beacons,
    BASELINE_CONFIRMATIONS_TOPIC: t.confirmations,
    BASELINE_GROUP: t.group,
    BASELINE_FORMAT: kind === 'baselineRowBinary' ? 'rowbinary' : 'json',
  });
}

/** The aggregator's metrics, by name and labels ("name{a=\"b\"}"). */
async function metrics(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return new Map(
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => {
        const at = l.lastIndexOf(' ');
        return [l.slice(0, at), Number(l.slice(at + 1))];
      }),
  );
}

/** Until every state partition caught up with its changelog: the slowest partition's time (s). */
async function caughtUp(port: number, partitions: number): Promise<number> {
  for (const deadline = Date.now() + 30 * 60_000; Date.now() < deadline; await sleep(100)) {
    const m = await metrics(port).catch(() => new Map<string, number>());
    const times = [...m].filter(([k]) => k.startsWith('aggregator_state_catch_up_seconds{')).map(([, v]) => v);
    if (times.length >= partitions) return Math.max(...times);
  }
  throw new Error('the state did not catch up within 30 minutes');
}

/** peakRssMb: of the processes together; peakProcessRssMb: of the largest one, and peakProcessAnonMb its anonymous part. */
interface Round {
  eventsPerS: number;
  cpu: number;
  serversCpu: number;
  peakRssMb: number;
  peakProcessRssMb: number;
  peakProcessAnonMb: number;
  setup: Setup;
  state?: Map<string, number>;
}
/** Preloads the topics, starts the consumer, and measures from the moment it holds its partitions
 * (the group is stable) until every event and confirmation is in ClickHouse and, for the aggregator,
 * no lag is left on either topic. The aggregator is stopped with SIGKILL: the restore measures what a crash leaves. */
async function throughput(kind: Kind, round: number): Promise<Round> {
  const setup: Setup = {
    beacons: await newTopic(`${kind}${round}`),
    confirmations: await newTopic(`${kind}${round}conf`),
    changelog: await newTopic(`${kind}${round}log`, 6, topics.aggregatorChangelog.configs),
    group: `bench-${kind}-${round}-${run}`,
    stateDir: join(stateRoot, `${kind}-${round}`),
    port: await freePort(),
  };
  const load = traffic(EVENTS / EVENTS_PER_RECORD);
  await produce(setup.beacons, load.beacons);
  await produce(setup.confirmations, load.confirmations);
  const database = databases[kind === 'aggregator' ? 'aggregator' : 'baseline'];
  const before = { events: await count(database), confirmations: await count(database, 'confirmations') };
  // The aggregator as deployed on this host: PROCESSES members of one group sharing its state directory.
  const members = kind === 'aggregator' ? PROCESSES : 1;
  const ports = [setup.port];
  while (ports.length < members) ports.push(await freePort());
  const children = ports.map((port) => start(kind, { ...setup, port }));
  await waitForMembers(admin, setup.group, { members, timeoutMs: 60_000, pollMs: 20 });
  const t0 = performance.now();
  const cpu = () => children.reduce((sum, c) => sum + cpuSeconds(c), 0);
  const servers = stackServers();
  const serversCpu = () => servers.reduce((sum, s) => sum + cpuSeconds(s), 0);
  const [cpu0, serversCpu0] = [cpu(), serversCpu()];
  let peak = 0;
  let peakProcess = 0;
  let peakAnon = 0;
  for (;;) {
    await sleep(50);
    const rss = children.map((c) => rssMb(c));
    peak = Math.max(
      peak,
      rss.reduce((a, b) => a + b, 0),
    );
    peakProcess = Math.max(peakProcess, ...rss);
    peakAnon = Math.max(peakAnon, ...children.map((c) => rssMb(c, 'RssAnon')));
    const n = (await count(database)) - before.events;
    if (n < EVENTS || (await count(database, 'confirmations')) - before.confirmations < load.confirmations.length)
      continue;
    if (kind !== 'aggregator') break;
    if (
      (await groupLag(admin, setup.group, setup.beacons)) === 0 &&
      (await groupLag(admin, setup.group, setup.confirmations)) === 0
    )
      break;
  }
  const seconds = (performance.now() - t0) / 1000;
  const result: Round = {
    eventsPerS: EVENTS / seconds,
    cpu: (cpu() - cpu0) / seconds,
    serversCpu: (serversCpu() - serversCpu0) / seconds,
    peakRssMb: peak,
    peakProcessRssMb: peakProcess,
    peakProcessAnonMb: peakAnon,
    setup,
  };
  if (kind === 'aggregator') {
    result.state = new Map();
    for (const m of await Promise.all(ports.map(metrics)))
      for (const [k, v] of m) result.state.set(k, (result.state.get(k) ?? 0) + v);
    for (const c of children) c.kill(PROFILING ? 'SIGTERM' : 'SIGKILL'); // a profile is written only on a clean exit
    await Promise.all(children.map((c) => new Promise((resolve) => c.once('exit', resolve))));
  } else await Promise.all(children.map(stopService));
  return result;
}

/** The aggregator started again on a round's state (its disk, or an empty one): how long until every partition caught up. */
async function restore(
  setup: Setup,
  emptyDisk: boolean,
): Promise<{ seconds: number; wallSeconds: number; entries: number }> {
  const again = {
    ...setup,
    port: await freePort(),
    stateDir: emptyDisk ? join(stateRoot, `empty-${randomUUID()}`) : setup.stateDir,
  };
  const t0 = performance.now();
  const child = start('aggregator', again);
  const seconds = await caughtUp(again.port, 6);
  const wallSeconds = (performance.now() - t0) / 1000;
  const m = await metrics(again.port);
  const entries = [...m]
    .filter(([k]) => k.startsWith('aggregator_state_replayed_entries_total{'))
    .reduce((n, [, v]) => n + v, 0);
  await stopService(child);
  return { seconds, wallSeconds, entries };
}

// Latency at a steady rate, measured first, on a quiet machine: each produced chunk is queryable when ClickHouse's count passes it.
const steady: Setup = {
  beacons: await newTopic('steady'),
  confirmations: await newTopic('steadyconf'),
  changelog: await newTopic('steadylog', 6, topics.aggregatorChangelog.configs),
  group: `bench-steady-${run}`,
  stateDir: join(stateRoot, 'steady'),
  port: await freePort(),
};
const child = start('aggregator', steady);
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
  await producer.send(
    [
      { topic: steady.beacons, messages: chunk.beacons },
      { topic: steady.confirmations, messages: chunk.confirmations },
    ],
    { compression: 'snappy' },
  );
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

const rounds: Record<Kind, Round[]> = { aggregator: [], baseline: [], baselineRowBinary: [] };
for (let r = 1; r <= ROUNDS; r++) {
  for (const kind of ['baseline', 'baselineRowBinary', 'aggregator'] as const)
    rounds[kind].push(await throughput(kind, r));
  console.log(
    `round ${r}/${ROUNDS}: baseline ${rounds.baseline.at(-1)!.eventsPerS.toFixed(0)} events/s (RowBinary ${rounds.baselineRowBinary.at(-1)!.eventsPerS.toFixed(0)}), ` +
      `aggregator ${rounds.aggregator.at(-1)!.eventsPerS.toFixed(0)} events/s`,
  );
}
// The last round's state, after its SIGKILL: on the same disk, then on an empty one (a new host).
const last = rounds.aggregator.at(-1)!;
const restored = { sameDisk: await restore(last.setup, false), emptyDisk: await restore(last.setup, true) };
const state = last.state!;
const claims = state.get('aggregator_state_claims') ?? 0;
const perClaim = {
  disk: (state.get('aggregator_state_bytes{store="claims",where="disk"}') ?? 0) / claims,
  ram: (state.get('aggregator_state_bytes{store="claims",where="ram"}') ?? 0) / claims,
};
const kvDiskPerEvent = (state.get('aggregator_state_bytes{store="kv",where="disk"}') ?? 0) / EVENTS;

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
rmSync(stateRoot, { recursive: true, force: true });

const m = (kind: Kind, f: (r: Round) => number) => median(rounds[kind].map(f));
const peak = (kind: Kind) => Math.max(...rounds[kind].map((r) => r.peakRssMb));
const fig = {
  eventsPerS: m('aggregator', (r) => r.eventsPerS),
  baselineEventsPerS: m('baseline', (r) => r.eventsPerS),
  rowBinaryEventsPerS: m('baselineRowBinary', (r) => r.eventsPerS),
  cpu: m('aggregator', (r) => r.cpu),
  baselineCpu: m('baseline', (r) => r.cpu),
  rowBinaryCpu: m('baselineRowBinary', (r) => r.cpu),
  serversCpu: m('aggregator', (r) => r.serversCpu),
  baselineServersCpu: m('baseline', (r) => r.serversCpu),
  rowBinaryServersCpu: m('baselineRowBinary', (r) => r.serversCpu),
  rss: peak('aggregator'),
  processRss: Math.max(...rounds.aggregator.map((r) => r.peakProcessRssMb)),
  processAnon: Math.max(...rounds.aggregator.map((r) => r.peakProcessAnonMb)),
  baselineRss: peak('baseline'),
  rowBinaryRss: peak('baselineRowBinary'),
  p50: pct(0.5),
  p99: pct(0.99),
};
const share = fig.eventsPerS / fig.baselineEventsPerS;
const pc = (x: number) => `${(x * 100).toFixed(0)} %`;
const checks = {
  [`≥ ${pc(targets.share)} of the baseline's events/s, lag back to zero`]: share >= targets.share,
  [`produce-to-queryable p99 ≤ ${targets.p99Ms} ms`]: fig.p99 <= targets.p99Ms,
  [`peak RSS of an aggregator process ≤ ${targets.rssMb} MB`]: fig.processRss <= targets.rssMb,
  [`peak RSS of the ${PROCESSES} processes together ≤ ${targets.rssMb} MB`]: fig.rss <= targets.rssMb,
  [`≤ ${targets.diskBytesPerClaim} bytes on disk per remembered event`]: perClaim.disk <= targets.diskBytesPerClaim,
};
const pass = Object.values(checks).every(Boolean);
const n = (x: number) => Math.round(x).toLocaleString('en-US');

writeSection(
  'aggregator',
  `## aggregator: dedup and attribution into ClickHouse (\`npm run bench:aggregator\`)

Run ${new Date().toISOString().slice(0, 16)}Z: ${ROUNDS} interleaved rounds (medians), each a fresh topic of 6 partitions preloaded
with ${n(EVENTS)} events (records of ${EVENTS_PER_RECORD} events of one user; 20,000 users; impressions, viewables, clicks,
completions, conversions), and a confirmations topic of 6 partitions with one confirmation per completion and
conversion (${n(EVENTS / 10)}), timed from the moment the consumer holds its partitions until every event and
confirmation is in ClickHouse and the group's lag is zero on both. Kafka, ClickHouse, Redis and the consumers share the 2 cores.
The baselines are one process; the aggregator runs as deployed, ${PROCESSES === 1 ? 'one process' : `${PROCESSES} processes in its group sharing the host's state directory`} (one per core; CPU and RSS are of them together; in brackets the largest process's RSS, and its anonymous part: without the pages of the LMDB store it maps, which the kernel can drop).

| what | events/s | consumer CPU (cores) | servers' CPU (cores: Kafka, ClickHouse, Redis) | peak RSS MB |
|---|---:|---:|---:|---:|
| baseline: bare consumer of both topics, decode, insert the same event and confirmation rows as JSONEachRow (no claims, no attribution, no join) | ${n(fig.baselineEventsPerS)} | ${fig.baselineCpu.toFixed(2)} | ${fig.baselineServersCpu.toFixed(2)} | ${n(fig.baselineRss)} |
| the same baseline inserting RowBinary, as the aggregator does | ${n(fig.rowBinaryEventsPerS)} | ${fig.rowBinaryCpu.toFixed(2)} | ${fig.rowBinaryServersCpu.toFixed(2)} | ${n(fig.rowBinaryRss)} |
| aggregator${PROCESSES === 1 ? '' : ` (${PROCESSES} processes)`}: partition-owned state (claims, touches, pairing) with its changelog, attribution, the join, group commit, earnings to Kafka | ${n(fig.eventsPerS)} (${pc(share)} of the baseline, ${pc(fig.eventsPerS / fig.rowBinaryEventsPerS)} of the RowBinary one) | ${fig.cpu.toFixed(2)} | ${fig.serversCpu.toFixed(2)} | ${n(fig.rss)} (${n(fig.processRss)}; ${n(fig.processAnon)}) |

Latency from produce (acks=all) to queryable in ClickHouse at a steady ${n(STEADY_RATE)} events/s for ${STEADY_SECONDS} s
(flush interval 1 s; ClickHouse polled every 50 ms): p50 ${n(fig.p50)} ms, p99 ${n(fig.p99)} ms.
Redis keys left by the run (the shared state: a device's clicks, named clicks, device-hours; deleted afterwards): ${n(redisKeys)}.

**State per remembered event** (the last round: ${n(claims)} claims, its events and confirmations): ${perClaim.disk.toFixed(1)} bytes on
disk and ${perClaim.ram.toFixed(1)} bytes of RAM per claim (the RAM is bounded by the filter budget,
\`AGGREGATOR_CLAIMS_FILTER_BYTES\` per partition, plus the current hour's table, whatever the window holds); the partitions'
key-value store (touch lists, flags, pairing) ${kvDiskPerEvent.toFixed(0)} bytes on disk per event of the round. For a 7-day window at
1,000 events/s (605 M claims) the claims take ${n((perClaim.disk * 1_000 * 7 * DAY_S) / 1e9)} GB of disk over all partitions, at 10,000 events/s
${n((perClaim.disk * 10_000 * 7 * DAY_S) / 1e9)} GB (Redis held 214 bytes of RAM per claim: 130 GB and 1.3 TB).

**Restore** of the last round's state after its SIGKILL, by one process (6 partitions; the slowest partition's catch-up, and the time from the
process start until every partition caught up, which includes the group's wait for the killed members' sessions to expire): on the same disk ${restored.sameDisk.seconds.toFixed(2)} s (${restored.sameDisk.wallSeconds.toFixed(1)} s;
${n(restored.sameDisk.entries)} changelog entries replayed); on an empty disk, a new host replaying the whole changelog,
${restored.emptyDisk.seconds.toFixed(2)} s (${restored.emptyDisk.wallSeconds.toFixed(1)} s; ${n(restored.emptyDisk.entries)} entries for ${n(EVENTS)} events).

| target | met |
|---|---|
${Object.entries(checks)
  .map(([k, v]) => `| ${k} | ${v ? 'yes' : '**no**'} |`)
  .join('\n')}
`,
);

console.log(
  `bench:aggregator events_per_s=${n(fig.eventsPerS)} baseline=${n(fig.baselineEventsPerS)} ratio=${pc(share)} rowbinary_baseline=${n(fig.rowBinaryEventsPerS)} ` +
    `p50=${n(fig.p50)}ms p99=${n(fig.p99)}ms rss=${n(fig.rss)}MB process_rss=${n(fig.processRss)}MB disk_per_claim=${perClaim.disk.toFixed(1)} restore_same=${restored.sameDisk.seconds.toFixed(2)}s ` +
    `restore_empty=${restored.emptyDisk.seconds.toFixed(2)}s ${pass ? 'PASS' : 'FAIL'}`,
);
process.exit(pass ? 0 : 1);
