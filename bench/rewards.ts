// `npm run bench:rewards`: verified earnings/s posted to the ledger with realistic contention (100,000
// users, 20 campaigns, one hot campaign taking half the traffic), from Kafka to committed. The same
// run measures the hot-account problem: the service posting one earning per database transaction
// ("before") against its batches ("after"), interleaved rounds, medians. Then the posting latency at
// a steady rate. Writes its section of bench/RESULTS.md, prints one final line, exits 1 on a miss.
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { personKey } from '../common/person.js';
import { fen } from '../common/money.js';
import { audit } from '../rewards/audit.js';
import { fundingTransfer } from '../rewards/earnings.js';
import { createPgLedger } from '../rewards/ledger-pg.js';
import { EventType } from '../schemas/beacon-json.js';
import { pipeline } from '../schemas/gen/messages.js';
import { queues } from '../schemas/queues.js';
import { earningId } from '../schemas/records.js';
import { groupLag, waitForMembers } from '../test/support.js';
import { cpuSeconds, rssMb, startService, stopService } from './proc.js';
import { median, writeSection } from './results.js';
import { benchDatabase, benchKafka, env, ledgerLatency, stackUp } from './setup.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const EARNINGS = {
  after: Number(process.env.BENCH_EARNINGS ?? 200_000),
  before: Number(process.env.BENCH_EARNINGS_BEFORE ?? 3_000),
};
const STEADY_SECONDS = Number(process.env.BENCH_STEADY_SECONDS ?? 20);
const USERS = 100_000;
const CAMPAIGNS = 20;
const batchMax = { before: '1', after: '2000' } as const; // after: the service's default
const targets = { earningsPerS: 10_000 };
const APP = 'bench.app';

stackUp();
const run = randomBytes(3).toString('hex');
const db = await benchDatabase(`rewards_${run}`);
const { url, pool } = db;
// 20 campaigns of the app with a reward rule and ample budget; a tenth of the users linked to WeChat,
// so the threshold trigger runs as it would.
await pool.query('insert into apps (app_id) values ($1)', [APP]);
await pool.query(
  `insert into campaigns (campaign_id, app_id) select 'campaign-' || i, $1 from generate_series(0, ${CAMPAIGNS - 1}) i`,
  [APP],
);
await pool.query(`insert into reward_rules (campaign_id, reward_complete_fen, conversion_fen, fee_bps, effective_from)
  select 'campaign-' || i, 10, 100, 1000, now() - interval '1 hour' from generate_series(0, ${CAMPAIGNS - 1}) i`);
const funded = await createPgLedger({ pool }).post(
  Array.from({ length: CAMPAIGNS }, (_, i) => fundingTransfer(`campaign-${i}`, fen(1e12), 'bench', 'CNY')),
);
if (funded.some((r) => r.status !== 'created')) throw new Error('funding the campaigns failed');
await pool.query(
  `insert into wechat_links (user_id, appid, openid_mac, openid_enc, access_token_enc, refresh_token_enc, token_expires_at)
  select $1 || i, 'wx', convert_to('user-' || i, 'UTF8'), '\\x00', '\\x00', '\\x00', now() from generate_series(0, ${USERS - 1}, 10) i`,
  [personKey({ appId: APP, userId: 'user-' })],
);

const bench = await benchKafka(run);
const { admin, producer, newTopic } = bench;
const deadLetters = await newTopic('earnings-dlq', 1);

/** `count` confirmed earnings: half for the hot campaign, the rest spread over the other 19; random users, a device each. */
function earnings(count: number, verifiedAt = Date.now()) {
  return Array.from({ length: count }, () => {
    const n = Math.floor(Math.random() * USERS);
    const user = `user-${n}`;
    const campaign = Math.random() < 0.5 ? 0 : 1 + Math.floor(Math.random() * (CAMPAIGNS - 1));
    const sourceEventId = randomUUID();
    const value = pipeline.v1.VerifiedEarning.encode({
      version: 1,
      earningId: earningId(sourceEventId),
      sourceEventId,
      appId: APP,
      userId: user,
      campaignId: `campaign-${campaign}`,
      type: Math.random() < 0.9 ? EventType.REWARD_COMPLETE : EventType.CONVERSION,
      eventTime: verifiedAt - 60_000,
      verifiedAt,
      deviceId: `device-${n}`,
      receivedAt: verifiedAt - 60_000,
      confirmation: `admob:${sourceEventId}`,
      confirmedAt: verifiedAt,
    }).finish();
    return { key: user, value: Buffer.from(value) };
  });
}
async function produce(topic: string, messages: { key: string; value: Buffer }[]) {
  for (let i = 0; i < messages.length; i += 5_000)
    await producer.send([{ topic, messages: messages.slice(i, i + 5_000) }]);
}

function start(topic: string, group: string, batch: string): ChildProcess {
  return startService('rewards/main.ts', {
    LOG_LEVEL: 'error',
    DATABASE_URL: url,
    REWARDS_PORT: '0',
    REWARDS_OPS_PORT: '0',
    REWARDS_TOPIC: topic,
    REWARDS_GROUP: group,
    REWARDS_DEADLETTER_TOPIC: deadLetters,
    REWARDS_BATCH_MAX: batch,
    REWARDS_PAYOUT_QUEUE_PREFIX: `bench-${run}`,
  });
}
const posted = async () => Number((await pool.query<{ n: string }>('select count(*) as n from earnings')).rows[0]!.n);

interface Round {
  earningsPerS: number;
  cpu: number;
  peakRssMb: number;
}
/** Preloads a topic, starts the service, and times from the moment it holds its partitions until the lag is zero. */
async function throughput(mode: 'before' | 'after', round: number): Promise<Round> {
  const topic = await newTopic(`earnings-${mode}${round}`);
  await produce(topic, earnings(EARNINGS[mode]));
  const group = `bench-${mode}-${round}-${run}`;
  const child = start(topic, group, batchMax[mode]);
  await waitForMembers(admin, group, { members: 1, timeoutMs: 60_000, pollMs: 20 });
  const t0 = performance.now();
  const cpu0 = cpuSeconds(child);
  let peak = 0;
  // Polled gently: each poll costs the benchmark and the broker CPU that the service would use.
  const ends = await admin.fetchTopicOffsets(topic);
  while ((await groupLag(admin, group, topic, ends)) > 0) {
    peak = Math.max(peak, rssMb(child));
    await sleep(100);
  }
  const seconds = (performance.now() - t0) / 1000;
  const result = { earningsPerS: EARNINGS[mode] / seconds, cpu: (cpuSeconds(child) - cpu0) / seconds, peakRssMb: peak };
  await stopService(child);
  return result;
}

const rounds: Record<'before' | 'after', Round[]> = { before: [], after: [] };
for (let r = 1; r <= ROUNDS; r++) {
  for (const mode of ['before', 'after'] as const) rounds[mode].push(await throughput(mode, r));
  console.log(
    `round ${r}/${ROUNDS}: one per transaction ${rounds.before.at(-1)!.earningsPerS.toFixed(0)} earnings/s, batched ${rounds.after.at(-1)!.earningsPerS.toFixed(0)} earnings/s`,
  );
}

// Latency at a steady rate the service sustains (half the measured throughput, unless set):
// verified_at is the produce time, recorded_at the database clock at the row's insert.
const STEADY_RATE = Number(
  process.env.BENCH_STEADY_EARNINGS_PER_S ??
    Math.max(100, Math.floor(median(rounds.after.map((r) => r.earningsPerS)) / 200) * 100),
);
const steadyTopic = await newTopic('earnings-steady');
const steadyGroup = `bench-steady-${run}`;
const steady = start(steadyTopic, steadyGroup, batchMax.after);
await sleep(8_000);
const steadyFrom = new Date();
const before = await posted();
let sent = 0;
for (const t0 = performance.now(); performance.now() - t0 < STEADY_SECONDS * 1000;) {
  const tick = performance.now();
  const chunk = earnings(STEADY_RATE / 10);
  await producer.send([{ topic: steadyTopic, messages: chunk }]);
  sent += chunk.length;
  await sleep(Math.max(0, 100 - (performance.now() - tick)));
}
while ((await posted()) - before < sent) await sleep(100);
const latency = await ledgerLatency(pool, 'verified_at >= $1', [steadyFrom]);
await stopService(steady);

const client = await pool.connect();
const audited = await audit(client);
client.release();
const {
  rows: [totals],
} = await pool.query<{
  earnings: string;
  posted: string;
  payouts: string;
  transactions: string;
}>(`select count(*) as earnings,
  count(*) filter (where status = 'posted') as posted, (select count(*) from payouts) as payouts, (select count(*) from transactions) as transactions from earnings`);
await bench.close();
// The payout requests the threshold handed to BullMQ.
const queue = new Queue(queues.payoutRequests.name, { connection: { url: env.REDIS_URL }, prefix: `bench-${run}` });
await queue.obliterate({ force: true });
await queue.close();
await db.drop();

const m = (mode: 'before' | 'after', f: (r: Round) => number) => median(rounds[mode].map(f));
const fig = {
  after: m('after', (r) => r.earningsPerS),
  before: m('before', (r) => r.earningsPerS),
  cpu: m('after', (r) => r.cpu),
  beforeCpu: m('before', (r) => r.cpu),
  rss: Math.max(...rounds.after.map((r) => r.peakRssMb)),
  beforeRss: Math.max(...rounds.before.map((r) => r.peakRssMb)),
  p50: latency!.p50,
  p99: latency!.p99,
};
const breaches = audited.filter((a) => a.breaches > 0).map((a) => a.name);
const checks = {
  [`≥ ${targets.earningsPerS.toLocaleString('en-US')} earnings/s posted`]: fig.after >= targets.earningsPerS,
  'batching beats one earning per transaction': fig.after > fig.before,
  'every earning recorded once; audit passes':
    breaches.length === 0 && Number(totals!.posted) === Number(totals!.earnings),
};
const pass = Object.values(checks).every(Boolean);
const n = (x: number) => Math.round(x).toLocaleString('en-US');

writeSection(
  'rewards',
  `## rewards: verified earnings into the ledger (\`npm run bench:rewards\`)

Run ${new Date().toISOString().slice(0, 16)}Z: ${ROUNDS} interleaved rounds (medians). Each round preloads a fresh topic of 6 partitions
with earnings of 100,000 users over 20 campaigns, **half of them for one hot campaign** (90 % completions
at 10 fen, 10 % conversions at 100 fen, a 10 % platform fee; a tenth of the users linked, so the
threshold trigger runs), then times the rewards service from the moment it holds its partitions
until its lag is zero. Kafka, Postgres and the service share the 2 cores.

| what | earnings/s | service CPU (cores) | peak RSS MB |
|---|---:|---:|---:|
| before: one earning per database transaction (REWARDS_BATCH_MAX=1; ${n(EARNINGS.before)} earnings) | ${n(fig.before)} | ${fig.beforeCpu.toFixed(2)} | ${n(fig.beforeRss)} |
| after: batches of up to ${n(Number(batchMax.after))} earnings per transaction (${n(EARNINGS.after)} earnings) | ${n(fig.after)} (×${(fig.after / fig.before).toFixed(1)}) | ${fig.cpu.toFixed(2)} | ${n(fig.rss)} |

Before, every earning is its own transaction that debits the hot campaign's budget row, so the three
partitions worked at once queue on that row. After, a batch is one ledger transaction, with a posting
per earning for the user's reward and one per account for the budgets and the fee (rewards/README.md
"The ledger"). It touches the budget row once, and last: budgets are
read unlocked and debited by the final statement before commit, with the platform's fee account,
which every batch credits, so their row locks are held only to the commit (rewards/README.md "The
hot account").
Posting latency at a steady ${n(STEADY_RATE)} earnings/s for ${STEADY_SECONDS} s (verified_at = produce time, to the row's insert
inside the committing transaction): p50 ${n(fig.p50)} ms, p99 ${n(fig.p99)} ms.
Ledger at the end: ${n(Number(totals!.earnings))} earnings recorded (${n(Number(totals!.posted))} posted), ${n(Number(totals!.transactions))} transactions, ${n(Number(totals!.payouts))} threshold payouts; audit: ${breaches.length === 0 ? 'passed' : `FAILED (${breaches.join(', ')})`}.

| target | met |
|---|---|
${Object.entries(checks)
  .map(([k, v]) => `| ${k} | ${v ? 'yes' : '**no**'} |`)
  .join('\n')}
`,
);

console.log(
  `bench:rewards earnings_per_s=${n(fig.after)} one_per_tx=${n(fig.before)} ratio=x${(fig.after / fig.before).toFixed(1)} ` +
    `p50=${n(fig.p50)}ms p99=${n(fig.p99)}ms rss=${n(fig.rss)}MB audit=${breaches.length === 0 ? 'ok' : 'FAILED'} ${pass ? 'PASS' : 'FAIL'}`,
);
process.exit(pass ? 0 : 1);
