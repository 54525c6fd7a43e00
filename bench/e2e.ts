// `npm run bench:e2e`: the whole pipeline on this machine, every service its own process under the
// supervisor, all sharing the 2 cores with Kafka, ClickHouse, Postgres and Redis. SDK clients play the
// demo's generated users (with its retries, replays, bots and bad requests) as fast as the collector
// answers; each round is timed from the first request until every consumer group's lag is back to
// zero, and checked against its ground truth (rows in ClickHouse). In the same run, the baseline: the
// rate at which the collector accepted that traffic while the consumers worked behind it. Then, at
// half the absorbed rate, beacon-to-ClickHouse latency (probe events polled for) and earning-to-ledger
// latency (verified_at to recorded_at of every earning). Resident memory of every process throughout.
// Writes its section of bench/RESULTS.md, prints one final line, exits 1 when a target is missed.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import pg from 'pg';
import { createBeaconClient } from '../ingest/sdk/client.js';
import { EventType } from '../schemas/beacon-json.js';
import { expect as groundTruth, generate, type Scenario } from '../stack/traffic.js';
import type { Tally } from '../stack/drive.js';
import { createPipelineWorld } from '../test/pipeline-world.js';
import { env, stackOwned, stackPid, type StackServer } from '../test/support.js';
import { rssMb } from './proc.js';
import { median, percentile, writeSection } from './results.js';
import { ledgerLatency, stackUp } from './setup.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const USERS = Number(process.env.BENCH_USERS ?? 8_000);
const STEADY_SECONDS = Number(process.env.BENCH_STEADY_SECONDS ?? 30);
// The earlier issues' targets that apply to the whole pipeline.
const targets = { eventsPerS: 50_000, beaconToQueryableP99Ms: 5_000, collectorRssMb: 250 };

stackUp();
// Production settings (1 s insert interval, 30 s sessions), except the sandbox's fast clock.
const world = await createPipelineWorld({
  env: {
    AGGREGATOR_FLUSH_INTERVAL_MS: '1000',
    AGGREGATOR_SESSION_TIMEOUT_MS: '30000',
    REWARDS_SESSION_TIMEOUT_MS: '30000',
    LOG_LEVEL: 'warn',
  },
});
const { driver, supervisor } = world;
const ch = createClient({
  url: env.CLICKHOUSE_URL,
  database: world.env.CLICKHOUSE_DATABASE,
  log: { level: ClickHouseLogLevel.OFF },
  keep_alive: { eagerly_destroy_stale_sockets: true },
});
const db = new pg.Pool({ connectionString: world.env.DATABASE_URL, max: 2 });
const query = async <T>(q: string) => (await ch.query({ query: q, format: 'JSONEachRow' })).json<T>();
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

// Peak resident memory of every process, sampled each second.
const servers: StackServer[] = ['kafka', 'clickhouse', 'postgres', 'redis'];
const peakRss = new Map<string, number>();
const sampler = setInterval(() => {
  const pids: [string, number | undefined][] = [
    ...supervisor.names.map((n) => [n, supervisor.pid(n)] as [string, number | undefined]),
    ...(stackOwned ? servers.map((s) => [s, stackPid(s)] as [string, number]) : []),
  ];
  for (const [name, pid] of pids) {
    const mb = pid ? rssMb({ pid }) : 0;
    peakRss.set(name, Math.max(peakRss.get(name) ?? 0, mb));
  }
}, 1_000);

const rowsOf = async (s: Scenario, exceptUser = '') =>
  Number(
    (
      await query<{ n: string }>(
        `SELECT count() AS n FROM events WHERE app_id IN (${s.apps.map((a) => `'${a}'`).join(',')}) AND user_id != '${exceptUser}'`,
      )
    )[0]!.n,
  );

async function measure() {
  // --- throughput: rounds of fresh users as fast as the collector takes them -------------------------
  interface Round {
    accepted: number;
    sendS: number;
    totalS: number;
    rows: number;
    expectedRows: number;
    eventsPerUser: number;
  }
  const rounds: Round[] = [];
  for (let k = 1; k <= ROUNDS; k++) {
    const now = Date.now();
    const s = generate({ run: `bench${now}`, users: USERS, seed: k, now, lateMaxMs: 2_000 }); // late callbacks would time the waits, not the pipeline
    const truth = groundTruth(s, { now });
    const keys = await driver.setup(s);
    const t0 = performance.now();
    let sentAt = 0;
    const tally: Tally = await driver.play(s, keys, {
      concurrency: 64,
      onSent: () => void (sentAt = performance.now()),
    });
    await driver.drained(600_000);
    const totalS = (performance.now() - t0) / 1000;
    const round = {
      accepted: tally.accepted,
      sendS: (sentAt - t0) / 1000,
      totalS,
      rows: await rowsOf(s),
      expectedRows: Object.values(truth.rows).reduce((a, b) => a + b, 0),
      eventsPerUser: truth.accepted / s.users.length,
    };
    rounds.push(round);
    console.error(
      `[bench] round ${k}: ${fmt(round.accepted)} events accepted in ${round.sendS.toFixed(1)} s, absorbed in ${totalS.toFixed(1)} s (${fmt(round.accepted / totalS)}/s); ${fmt(round.rows)} rows, expected ${fmt(round.expectedRows)}`,
    );
  }
  const absorbed = median(rounds.map((r) => r.accepted / r.totalS));
  const accepting = median(rounds.map((r) => r.accepted / r.sendS));
  const exact = rounds.every((r) => r.rows === r.expectedRows);

  // --- latency at half the absorbed rate ---------------------------------------------------------------
  const steadyRate = absorbed / 2;
  const now = Date.now();
  const eventsPerUser = median(rounds.map((r) => r.eventsPerUser));
  const s = generate({
    run: `benchl${now}`,
    users: Math.max(100, Math.round((steadyRate * STEADY_SECONDS) / eventsPerUser)),
    seed: 99,
    now,
    lateMaxMs: 2_000,
  });
  const keys = await driver.setup(s);
  const probeUser = `probe-${now}`;
  const probe = createBeaconClient({
    endpoint: `http://127.0.0.1:${world.env.INGEST_PORT}`,
    appId: s.apps[0]!,
    ...keys.get(0)!,
    sdk: 'bench/1',
  });
  const sent = new Map<string, number>();
  const failedProbes: string[] = [];
  const seen = new Map<string, number>();
  let steady = true;
  const probes = (async () => {
    while (steady) {
      const eventId = randomUUID();
      sent.set(eventId, Date.now());
      await probe
        .send([
          {
            eventId,
            type: EventType.IMPRESSION,
            occurredAt: Date.now(),
            userId: probeUser,
            deviceId: probeUser,
            campaignId: s.campaigns[0]!.id,
            creativeId: `${s.campaigns[0]!.id}-cr0`,
            placementId: 'feed-top',
          },
        ])
        .catch((err: unknown) => {
          sent.delete(eventId);
          failedProbes.push(String(err));
        });
      await sleep(200);
    }
  })();
  const poller = (async () => {
    while (steady || seen.size < sent.size) {
      const waiting = [...sent.keys()].filter((id) => !seen.has(id));
      if (waiting.length > 0) {
        const found = await query<{ event_id: string }>(
          `SELECT event_id FROM events WHERE event_id IN (${waiting.map((id) => `'${id}'`).join(',')})`,
        ).catch(() => []); // a failed poll is tried again
        for (const f of found) seen.set(f.event_id, Date.now());
      }
      await sleep(50);
    }
  })();
  const tSteady = performance.now();
  let steadyS = 0;
  await driver.play(s, keys, {
    spreadMs: STEADY_SECONDS * 1_000,
    onSent() {
      steadyS = (performance.now() - tSteady) / 1000;
      steady = false; // the probes stop with the traffic, so that the lags can reach zero
    },
  });
  await probes;
  await driver.drained(600_000);
  await poller;
  const probeMs = [...seen].map(([id, at]) => at - sent.get(id)!);
  const earn = await ledgerLatency(db, 'app_id = any($1)', [s.apps]);
  const steadyRows = await rowsOf(s, probeUser);
  return { rounds, absorbed, accepting, exact, s, eventsPerUser, steadyS, probeMs, failedProbes, earn, steadyRows };
}

let m: Awaited<ReturnType<typeof measure>>;
try {
  m = await measure();
} finally {
  clearInterval(sampler);
  await Promise.all([ch.close(), db.end()]);
  await world.stop();
}
const { rounds, absorbed, accepting, exact, s, eventsPerUser, steadyS, probeMs, failedProbes, earn, steadyRows } = m;
if (failedProbes.length > 0)
  console.error(`[bench] ${failedProbes.length} probe sends failed, first: ${failedProbes[0]}`);

// --- report --------------------------------------------------------------------------------------------
const latency = { p50: percentile(probeMs, 0.5), p99: percentile(probeMs, 0.99) };
const collectorRss = peakRss.get('ingest') ?? 0;
const met = {
  [`≥ ${fmt(targets.eventsPerS)} events/s absorbed, lags back to zero (issue 4)`]: absorbed >= targets.eventsPerS,
  [`beacon-to-queryable p99 ≤ ${targets.beaconToQueryableP99Ms} ms (issue 4)`]:
    latency.p99 <= targets.beaconToQueryableP99Ms,
  [`collector peak RSS ≤ ${targets.collectorRssMb} MB (issue 3)`]: collectorRss <= targets.collectorRssMb,
  'every round exact: rows in ClickHouse = ground truth': exact,
};
const yes = (ok: boolean) => (ok ? 'yes' : '**no**');
writeSection(
  'e2e',
  `
## e2e: the whole pipeline (\`npm run bench:e2e\`)

Run ${new Date().toISOString().slice(0, 16)}Z: ${ROUNDS} rounds (medians) of ${fmt(USERS)} fresh simulated users each (the demo's traffic:
sessions of impressions, viewables, clicks, completions and conversions over 3 apps, with SDK retries,
replays, bots, click floods and bad requests), sent by SDK clients 64 users at a time. Every service
runs as its own process under the supervisor (production settings: 1 s insert interval), and all of
them, the load generator, Kafka, ClickHouse, Postgres and Redis share the 2 cores.

| what | events/s | |
|---|---:|---|
| baseline: offered, i.e. accepted by the collector (202, in Kafka) from the first request to the last | ${fmt(accepting)} | |
| absorbed: from the first request until every consumer lag is back to zero | ${fmt(absorbed)} | ${Math.round((100 * absorbed) / accepting)} % of baseline |

Near 100 % means the consumers keep pace with what the collector takes, and the rate is set by how
fast the load generator, sharing the same 2 cores, can sign and send; the consumers' own ceiling is
measured apart by \`bench:aggregator\` and \`bench:rewards\`.

Rounds: ${rounds.map((r) => `${fmt(r.accepted)} events, sent in ${r.sendS.toFixed(1)} s, absorbed in ${r.totalS.toFixed(1)} s, ${fmt(r.rows)} rows (expected ${fmt(r.expectedRows)})`).join('; ')}.

Latency at a steady ${fmt((s.users.length * eventsPerUser) / steadyS)} events/s for ${steadyS.toFixed(0)} s (${fmt(s.users.length)} users arriving evenly; ${fmt(steadyRows)} rows):
- beacon to queryable in ClickHouse (${probeMs.length} probe events, each sent alone and polled for every 50 ms; ${failedProbes.length} sends failed): p50 ${fmt(latency.p50)} ms, p99 ${fmt(latency.p99)} ms;
- earning to ledger (${fmt(earn.n)} earnings, \`verified_at\` by the aggregator to \`recorded_at\` in the posting transaction): p50 ${fmt(earn.p50)} ms, p99 ${fmt(earn.p99)} ms.

| process | peak RSS MB |
|---|---:|
${[...peakRss].map(([name, mb]) => `| ${name}${name === 'postgres' ? ' (postmaster; each connection is a process of its own)' : ''} | ${fmt(mb)} |`).join('\n')}

| target | met |
|---|---|
${Object.entries(met)
  .map(([t, ok]) => `| ${t} | ${yes(ok)} |`)
  .join('\n')}
`,
);
console.log(
  `e2e: absorbed ${fmt(absorbed)} events/s (collector accepted ${fmt(accepting)}/s), beacon-to-queryable p50 ${fmt(latency.p50)} ms p99 ${fmt(latency.p99)} ms, earning-to-ledger p99 ${fmt(earn.p99)} ms, collector RSS ${fmt(collectorRss)} MB, exact ${exact}; targets ${Object.values(met).every(Boolean) ? 'met' : 'MISSED'}`,
);
process.exit(Object.values(met).every(Boolean) ? 0 : 1);
