// `npm run bench:ingest`: the collector against the real local Kafka, next to a bare uWebSockets.js
// baseline (read body, same HMAC, 204) measured in the same run, and the same collector on Node's
// http module. Rounds are interleaved so machine noise hits all three alike; figures are medians.
// Writes its section of bench/RESULTS.md, prints one final line, exits 1 when a target is missed.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import pg from 'pg';
import { createKafka } from '../common/kafka.js';
import { keySql } from '../ingest/keys-pg.js';
import { sign } from '../ingest/signature.js';
import { ensureTopics } from '../schemas/migrate.js';
import { beacon } from '../schemas/gen/messages.js';
import { cpuSeconds, rssMb } from './proc.js';
import { median, writeSection } from './results.js';
import { nodeCommand } from '../stack/supervisor.js';
import { env, log, stackUp } from './setup.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 60);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const targets = { ratio: 0.5, p99Ms: 25, batchEventsPerS: 150_000, rssMb: 250, soakGrowth: 0.1 };

stackUp();

// A bench app and key, and a topic of its own so the pipeline's topic stays clean.
const topic = `bench.accepted.${randomBytes(3).toString('hex')}`;
const kafka = createKafka({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'bench' }, { log });
await ensureTopics([{ name: topic, partitions: 6, retentionMs: 3_600_000, key: 'user_id', value: '' }], { kafka, log });
const key = { keyId: `k_bench_${randomBytes(4).toString('hex')}`, secret: randomBytes(32).toString('hex') };
const db = new pg.Client({ connectionString: env.DATABASE_URL });
await db.connect();
await db.query(keySql['create-key'], ['bench.app', key.keyId, key.secret]);

async function startProcess(name: string, entry: string, extra: Record<string, string>, portPattern: RegExp) {
  const child = spawn(nodeCommand(entry)[0]!, nodeCommand(entry).slice(1), {
    env: { ...process.env, DEV_MODE: 'true', ...extra },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = portPattern.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening`)));
  });
  child.stdout!.resume();
  return { name, child, url: `http://127.0.0.1:${port}` };
}

const collectorEnv = (server: string) => ({
  INGEST_PORT: '0',
  INGEST_OPS_PORT: '0',
  INGEST_SERVER: server,
  INGEST_TOPIC: topic,
  LOG_LEVEL: 'info',
  INGEST_DEVICE_REQUESTS_PER_S: '0',
  INGEST_APP_EVENTS_PER_S: '0',
  INGEST_AUDIT_SAMPLE_RATE: '0',
});
const listening = /"port":(\d+)[^\n]*ingest_listening/;
const baseline = await startProcess(
  'baseline',
  'bench/baseline-uws.ts',
  { BASELINE_PORT: '0', BASELINE_SECRET: key.secret },
  /listening (\d+)/,
);
const uws = await startProcess('collector-uws', 'ingest/main.ts', collectorEnv('uws'), listening);
const node = await startProcess('collector-node', 'ingest/main.ts', collectorEnv('node'), listening);

let peakRss = 0;
const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, rssMb(uws.child))), 250);

/** Signed protobuf requests, `users` distinct ones, each one user's batch of `events` events. */
function signedRequests(events: number, users = 256) {
  const now = Date.now();
  return Array.from({ length: users }, (_, u) => {
    const batch = beacon.v1.BeaconBatch.encode({
      appId: 'bench.app',
      sdk: 'bench/1',
      sentAt: now,
      events: Array.from({ length: events }, (_, i) => ({
        eventId: randomUUID(),
        type: 1 + (i % 5),
        occurredAt: now - 1_000,
        userId: `user-${u}`,
        deviceId: `device-${u}`,
        campaignId: `campaign-${u % 20}`,
        creativeId: `creative-${i % 7}`,
        placementId: `placement-${u % 9}`,
      })),
    }).finish();
    return {
      method: 'POST' as const,
      path: '/v1/beacons',
      body: Buffer.from(batch),
      headers: {
        'content-type': 'application/x-protobuf',
        'beacon-signature': `t=${now},k=${key.keyId},v1=${sign(key.secret, now, batch)}`,
      },
    };
  });
}

interface Run {
  rps: number;
  p99: number;
  ok: number;
  bad: number;
  cpu: number;
}
async function cannon(
  target: { url: string; child: ChildProcess },
  events: number,
  seconds: number,
  connections: number,
): Promise<Run> {
  const cpu0 = cpuSeconds(target.child);
  const r = await autocannon({ url: target.url, connections, duration: seconds, requests: signedRequests(events) });
  const cpu = (cpuSeconds(target.child) - cpu0) / seconds;
  return { rps: r.requests.average, p99: r.latency.p99, ok: r['2xx'], bad: r.non2xx + r.errors + r.timeouts, cpu };
}

// Warm-up, not measured: JIT, connection pools, the broker's first appends.
for (const target of [baseline, uws, node]) await cannon(target, 1, 3, CONNECTIONS);
await cannon(uws, 50, 3, 32);

const runs: Record<string, Run[]> = { baseline: [], uws: [], node: [], batch: [] };
for (let round = 1; round <= ROUNDS; round++) {
  runs.baseline!.push(await cannon(baseline, 1, SECONDS, CONNECTIONS));
  runs.uws!.push(await cannon(uws, 1, SECONDS, CONNECTIONS));
  runs.node!.push(await cannon(node, 1, SECONDS, CONNECTIONS));
  runs.batch!.push(await cannon(uws, 50, SECONDS, 32));
  const last = (k: string) => runs[k]!.at(-1)!;
  console.log(
    `round ${round}/${ROUNDS}: baseline ${last('baseline').rps.toFixed(0)} req/s (cpu ${last('baseline').cpu.toFixed(2)}), ` +
      `uws ${last('uws').rps.toFixed(0)} (cpu ${last('uws').cpu.toFixed(2)}), node ${last('node').rps.toFixed(0)} (cpu ${last('node').cpu.toFixed(2)}), ` +
      `batch ${(last('batch').rps * 50).toFixed(0)} events/s (cpu ${last('batch').cpu.toFixed(2)})`,
  );
}

// Soak: steady single-event load; RSS sampled each second.
const samples: number[] = [];
const soakTimer = setInterval(() => samples.push(rssMb(uws.child)), 1_000);
const soak = await cannon(uws, 1, SOAK_SECONDS, CONNECTIONS);
clearInterval(soakTimer);
clearInterval(rssTimer);
const tenth = Math.max(1, Math.floor(samples.length / 6));
const soakStart = median(samples.slice(tenth, 2 * tenth));
const soakEnd = median(samples.slice(-tenth));
const growth = soakEnd / soakStart - 1;

// Every 2xx from the collectors was acknowledged by Kafka: the topic holds at least that many records.
const admin = kafka.admin();
await admin.connect();
const offsets = await admin.fetchTopicOffsets(topic);
const records = offsets.reduce((s, p) => s + Number(p.high), 0);
const answered = [...runs.uws!, ...runs.node!, ...runs.batch!, soak].reduce((s, r) => s + r.ok, 0);
await admin.deleteTopics({ topics: [topic] });
await admin.disconnect();
await db.query(keySql['revoke-key'], [key.keyId]);
await db.end();
for (const p of [baseline, uws, node]) p.child.kill('SIGTERM');
await sleep(500);

const m = (name: string, f: (r: Run) => number) => median(runs[name]!.map(f));
const fig = {
  baselineRps: m('baseline', (r) => r.rps),
  uwsRps: m('uws', (r) => r.rps),
  nodeRps: m('node', (r) => r.rps),
  uwsP99: m('uws', (r) => r.p99),
  nodeP99: m('node', (r) => r.p99),
  baselineP99: m('baseline', (r) => r.p99),
  batchEventsPerS: m('batch', (r) => r.rps * 50),
  batchP99: m('batch', (r) => r.p99),
  baselineCpu: m('baseline', (r) => r.cpu),
  uwsCpu: m('uws', (r) => r.cpu),
  nodeCpu: m('node', (r) => r.cpu),
  batchCpu: m('batch', (r) => r.cpu),
  errors: [...runs.uws!, ...runs.node!, ...runs.batch!, soak].reduce((s, r) => s + r.bad, 0),
};
const ratio = fig.uwsRps / fig.baselineRps;
const checks = {
  [`single-event ≥ ${targets.ratio * 100} % of baseline`]: ratio >= targets.ratio,
  [`single-event p99 ≤ ${targets.p99Ms} ms`]: fig.uwsP99 <= targets.p99Ms,
  [`50-event batches ≥ ${targets.batchEventsPerS} events/s`]: fig.batchEventsPerS >= targets.batchEventsPerS,
  [`peak RSS ≤ ${targets.rssMb} MB`]: peakRss <= targets.rssMb,
  [`RSS growth over the ${SOAK_SECONDS} s soak ≤ ${targets.soakGrowth * 100} %`]: growth <= targets.soakGrowth,
  'no errors or non-2xx answers': fig.errors === 0,
  'every 2xx is in Kafka': records >= answered,
};
const pass = Object.values(checks).every(Boolean);
const n = (x: number) => Math.round(x).toLocaleString('en-US');

writeSection(
  'ingest',
  `## ingest: the beacon collector (\`npm run bench:ingest\`)

Run ${new Date().toISOString().slice(0, 16)}Z: a 3 s warm-up of each, ${ROUNDS} interleaved rounds of ${SECONDS} s each (medians), then a ${SOAK_SECONDS} s soak.
Every server, autocannon and the Kafka broker share the machine's 2 cores. The requests are signed
protobuf batches, one user each. The collector answers 202 only after Kafka (acks=all, idempotent
producer, ${process.env.KAFKA_COMPRESSION ?? 'snappy'}) has acknowledged the events.

| what | req/s | events/s | p99 ms | server CPU (cores) |
|---|---:|---:|---:|---:|
| baseline: bare uWebSockets.js, read body + HMAC, 204 | ${n(fig.baselineRps)} | ${n(fig.baselineRps)} | ${fig.baselineP99} | ${fig.baselineCpu.toFixed(2)} |
| collector on uWebSockets.js, 1 event per request | ${n(fig.uwsRps)} (${(ratio * 100).toFixed(0)} % of baseline) | ${n(fig.uwsRps)} | ${fig.uwsP99} | ${fig.uwsCpu.toFixed(2)} |
| the same collector on node:http, 1 event per request | ${n(fig.nodeRps)} (${((fig.nodeRps / fig.baselineRps) * 100).toFixed(0)} % of baseline) | ${n(fig.nodeRps)} | ${fig.nodeP99} | ${fig.nodeCpu.toFixed(2)} |
| collector on uWebSockets.js, 50 events per request | ${n(fig.batchEventsPerS / 50)} | ${n(fig.batchEventsPerS)} | ${fig.batchP99} | ${fig.batchCpu.toFixed(2)} |

CPU per request: baseline ${((fig.baselineCpu / fig.baselineRps) * 1e6).toFixed(0)} µs, collector ${((fig.uwsCpu / fig.uwsRps) * 1e6).toFixed(0)} µs (uWebSockets.js) and ${((fig.nodeCpu / fig.nodeRps) * 1e6).toFixed(0)} µs (node:http); per event in 50-event batches ${((fig.batchCpu / fig.batchEventsPerS) * 1e6).toFixed(1)} µs.

- uWebSockets.js over node:http on the same pipeline: ×${(fig.uwsRps / fig.nodeRps).toFixed(2)} single-event req/s.
- Collector RSS: peak ${peakRss.toFixed(0)} MB. During the soak the median went from ${soakStart.toFixed(0)} MB (early) to ${soakEnd.toFixed(0)} MB (end), ${(growth * 100).toFixed(1)} %, at ${n(soak.rps)} req/s.
- Kafka held ${n(records)} records for ${n(answered)} answers of 202 (duplicates would come only from retried sends).

| target | met |
|---|---|
${Object.entries(checks)
  .map(([k, v]) => `| ${k} | ${v ? 'yes' : '**no**'} |`)
  .join('\n')}
`,
);

console.log(
  `bench:ingest uws=${n(fig.uwsRps)}req/s baseline=${n(fig.baselineRps)}req/s ratio=${(ratio * 100).toFixed(0)}% p99=${fig.uwsP99}ms ` +
    `batch50=${n(fig.batchEventsPerS)}events/s node=${n(fig.nodeRps)}req/s peak_rss=${peakRss.toFixed(0)}MB soak_growth=${(growth * 100).toFixed(1)}% ` +
    `errors=${fig.errors} ${pass ? 'PASS' : 'FAIL'}`,
);
process.exit(pass ? 0 : 1);
