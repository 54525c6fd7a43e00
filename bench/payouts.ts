// `npm run bench:payouts`: 10,000 linked users cross the payout threshold at once; times the path from
// the trigger (their earnings produced to Kafka) to every payout settled in the ledger, through the
// rewards service, the payouts service and the WeChat Pay sandbox, each its own process. The same
// run measures the baseline: the same payouts as one provider call each (APIv2 transfers). Reports
// payouts/s and the provider calls made. Writes its section of bench/RESULTS.md, prints one final
// line, exits 1 on a miss.
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { devSecrets } from '../common/config.js';
import { createSecretBox } from '../common/secretbox.js';
import { audit } from '../rewards/audit.js';
import { personKey } from '../common/person.js';
import { fundingTransfer } from '../rewards/earnings.js';
import { fen } from '../rewards/ledger.js';
import { createPgLedger } from '../rewards/ledger-pg.js';
import { EventType } from '../schemas/beacon-json.js';
import { pipeline } from '../schemas/gen/messages.js';
import { payoutOutcomes, queues } from '../schemas/queues.js';
import { earningId } from '../schemas/records.js';
import { freePort, waitForMembers } from '../test/support.js';
import { rssMb, startService, stopService } from './proc.js';
import { median, writeSection } from './results.js';
import { benchDatabase, benchKafka, env, stackUp } from './setup.js';

const USERS = Number(process.env.BENCH_PAYOUT_USERS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const AMOUNT_FEN = 150;
const targets = { callsPerThousand: 11 };
type Api = 'v3_batch' | 'v2_transfer';

stackUp();
const run = randomBytes(3).toString('hex');
const db = await benchDatabase(`payouts_${run}`);
const { url, pool } = db;
const APP = 'bench.app';
// The campaign belongs to the users' app: only then do their (confirmed) earnings earn.
await pool.query('insert into apps (app_id) values ($1)', [APP]);
await pool.query("insert into campaigns (campaign_id, app_id) values ('bench', $1)", [APP]);
await pool.query(`insert into reward_rules (campaign_id, reward_complete_fen, conversion_fen, effective_from) values ('bench', ${AMOUNT_FEN}, 0, now() - interval '1 hour')`);
await createPgLedger({ pool }).post([fundingTransfer('bench', fen(1e12), 'bench', 'CNY')]);
const box = createSecretBox(Buffer.from(devSecrets.REWARDS_ENCRYPTION_KEY, 'base64'));

const bench = await benchKafka(run);
const { admin, producer, newTopic } = bench;
const topic = await newTopic('earnings');
const deadLetters = await newTopic('earnings-dlq', 1);
const prefix = `bench-${run}`;

const [sandboxPort, sandboxTlsPort, sandboxAdminPort, payoutsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
const sandbox = startService('payouts/sandbox/main.ts', { LOG_LEVEL: 'warn', SANDBOX_PORT: String(sandboxPort), SANDBOX_TLS_PORT: String(sandboxTlsPort), SANDBOX_ADMIN_PORT: String(sandboxAdminPort), SANDBOX_STEP_MS: '1000', SANDBOX_AUTO_CONFIRM_MS: '-1' });
const group = `bench-rewards-${run}`;
const rewards = startService('rewards/main.ts', {
  LOG_LEVEL: 'error', DATABASE_URL: url, REWARDS_PORT: '0', REWARDS_OPS_PORT: '0', REWARDS_TOPIC: topic, REWARDS_GROUP: group, REWARDS_DEADLETTER_TOPIC: deadLetters,
  REWARDS_PAYOUT_QUEUE_PREFIX: prefix, WECHAT_OAUTH_URL: `http://127.0.0.1:${sandboxPort}`,
});
const payoutsEnv = (api: Api) => ({
  LOG_LEVEL: 'error', DATABASE_URL: url, PAYOUTS_PORT: String(payoutsPort), PAYOUTS_OPS_PORT: '0', PAYOUTS_QUEUE_PREFIX: prefix, PAYOUTS_API: api,
  WECHATPAY_BASE_URL: `https://127.0.0.1:${sandboxTlsPort}`, PAYOUTS_NOTIFY_URL: `http://127.0.0.1:${payoutsPort}/v1/wechat/notify`,
  PAYOUTS_TICK_MS: '250', PAYOUTS_BATCH_MAX_AGE_MS: '5000', PAYOUTS_POLL_MS: '30000', PAYOUTS_RATE_PER_S: '100',
});
await waitForMembers(admin, group, { members: 1, timeoutMs: 60_000, pollMs: 50 });

async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 600_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}
const sandboxState = async () => (await (await fetch(`http://127.0.0.1:${sandboxAdminPort}/sandbox/state`)).json()) as { paidFen: number; calls: Record<string, number> };
const totalCalls = (s: { calls: Record<string, number> }) => Object.entries(s.calls).filter(([route]) => !route.startsWith('GET /healthz')).reduce((n, [, c]) => n + c, 0);
const count = async (q: string, args: unknown[]) => Number((await pool.query<{ n: string }>(q, args)).rows[0]!.n);

interface Round { seconds: number; payoutsPerS: number; calls: number; batches: number; peakRssMb: number; requestedS: number }
/** USERS new users, linked to WeChat; one earning each crosses the threshold; times trigger -> all paid. */
async function round(api: Api, r: number): Promise<Round> {
  const users = Array.from({ length: USERS }, (_, i) => `${api}-${r}-${run}-${i}`);
  await pool.query(`insert into wechat_links (user_id, appid, openid_mac, openid_enc, access_token_enc, refresh_token_enc, token_expires_at)
    select u, 'wxd0000000sandbox', convert_to(u, 'UTF8'), o, '\\x00', '\\x00', now() from unnest($1::text[], $2::bytea[]) as x(u, o)`,
  [users.map((userId) => personKey({ appId: APP, userId })), users.map((u) => box.seal(`o${u.replace(/[^A-Za-z0-9]/g, '').slice(-27).padStart(27, 'x')}`))]);
  const payouts: ChildProcess = startService('payouts/main.ts', payoutsEnv(api));
  await until('payouts ready', () => fetch(`http://127.0.0.1:${payoutsPort}/readyz`).then((res) => res.status).catch(() => 0), (s) => s === 200, 60_000);
  const before = await sandboxState();
  const t0 = performance.now();
  for (let i = 0; i < users.length; i += 5_000) {
    await producer.send([{ topic, messages: users.slice(i, i + 5_000).map((userId) => {
      const sourceEventId = randomUUID();
      const now = Date.now();
      const value = pipeline.v1.VerifiedEarning.encode({
        version: 1, earningId: earningId(sourceEventId), sourceEventId, appId: APP, userId, campaignId: 'bench', type: EventType.REWARD_COMPLETE, eventTime: now, verifiedAt: now,
        deviceId: `device-${userId}`, receivedAt: now, confirmation: `admob:${sourceEventId}`, confirmedAt: now,
      }).finish();
      return { key: userId, value: Buffer.from(value) };
    }) }]);
  }
  let peak = 0;
  const inRound = `user_id like '${personKey({ appId: APP, userId: `${api}-${r}-${run}-%` })}'`;
  await until('payout requests', () => count(`select count(*) as n from payouts where ${inRound}`, []), (n) => n >= USERS);
  const requestedS = (performance.now() - t0) / 1000;
  await until('payouts paid', async () => {
    peak = Math.max(peak, rssMb(payouts));
    return count(`select count(*) as n from payouts where ${inRound} and state = 'paid'`, []);
  }, (n) => n >= USERS);
  const seconds = (performance.now() - t0) / 1000;
  const after = await sandboxState();
  if (after.paidFen - before.paidFen !== USERS * AMOUNT_FEN) throw new Error(`the sandbox paid ${after.paidFen - before.paidFen} fen, not ${USERS * AMOUNT_FEN}`);
  if (process.env.BENCH_DEBUG) {
    const { rows } = await pool.query(`select e.state, min(e.at) as first, max(e.at) as last from payout_events e join payouts p using (payout_id) where p.${inRound} group by e.state order by 2`);
    console.log(rows.map((x: { state: string; first: Date; last: Date }) => `${x.state} ${x.first.toISOString().slice(14, 23)}..${x.last.toISOString().slice(14, 23)}`).join('\n'));
  }
  const batches = await count(`select count(distinct batch_no) as n from payout_transfers where ${inRound}`, []);
  await stopService(payouts);
  return { seconds, payoutsPerS: USERS / seconds, calls: totalCalls(after) - totalCalls(before), batches, peakRssMb: peak, requestedS };
}

const rounds: Record<Api, Round[]> = { v3_batch: [], v2_transfer: [] };
for (let r = 1; r <= ROUNDS; r++) {
  for (const api of ['v3_batch', 'v2_transfer'] as const) rounds[api].push(await round(api, r));
  const [b, v] = [rounds.v3_batch.at(-1)!, rounds.v2_transfer.at(-1)!];
  console.log(`round ${r}/${ROUNDS}: v3 batches ${b.seconds.toFixed(1)} s (requests ${b.requestedS.toFixed(1)} s), ${b.calls} calls in ${b.batches} batches; v2 one call each ${v.seconds.toFixed(1)} s, ${v.calls} calls`);
}

const client = await pool.connect();
const breaches = (await audit(client)).filter((a) => a.breaches > 0).map((a) => a.name);
client.release();
await Promise.all([stopService(rewards), stopService(sandbox)]);
await bench.close();
for (const name of [queues.payoutRequests.name, payoutOutcomes.name, 'payouts-work']) {
  const q = new Queue(name, { connection: { url: env.REDIS_URL }, prefix });
  await q.obliterate({ force: true });
  await q.close();
}
await db.drop();

const m = (api: Api, f: (r: Round) => number) => median(rounds[api].map(f));
const fig = {
  seconds: m('v3_batch', (r) => r.seconds), perS: m('v3_batch', (r) => r.payoutsPerS), calls: m('v3_batch', (r) => r.calls), batches: m('v3_batch', (r) => r.batches),
  requested: m('v3_batch', (r) => r.requestedS), rss: Math.max(...rounds.v3_batch.map((r) => r.peakRssMb)),
  v2Seconds: m('v2_transfer', (r) => r.seconds), v2PerS: m('v2_transfer', (r) => r.payoutsPerS), v2Calls: m('v2_transfer', (r) => r.calls),
};
const callsPerThousand = fig.calls / (USERS / 1000);
const checks = {
  [`≤ ${targets.callsPerThousand} provider calls per 1,000 payouts (v3 batches)`]: callsPerThousand <= targets.callsPerThousand,
  'every payout paid once (sandbox total = ledger total); audit passes': breaches.length === 0,
};
const pass = Object.values(checks).every(Boolean);
const n = (x: number) => Math.round(x).toLocaleString('en-US');

writeSection('payouts', `## payouts: threshold payouts to WeChat wallets (\`npm run bench:payouts\`)

Run ${new Date().toISOString().slice(0, 16)}Z: ${ROUNDS} interleaved rounds (medians). Each round links ${n(USERS)} new users to WeChat and
produces one ${AMOUNT_FEN}-fen earning for each to Kafka (the trigger); the rewards service posts them, crosses the
threshold and holds the money; the payouts service forms batches (size 1,000 or age 5 s), pays them
through the WeChat Pay sandbox (its own process; a batch takes ~2 s there, 1 s per state) and the ledger
settles each payout. Timed from the trigger to the last payout settled. All processes and the stack share the 2 cores.

| what | trigger → all settled | payouts/s | provider calls | batches |
|---|---:|---:|---:|---:|
| v3 batch transfers (\`PAYOUTS_API=v3_batch\`) | ${fig.seconds.toFixed(1)} s | ${n(fig.perS)} | ${n(fig.calls)} (${callsPerThousand.toFixed(1)} per 1,000) | ${n(fig.batches)} |
| baseline: one call per payout (\`PAYOUTS_API=v2_transfer\`) | ${fig.v2Seconds.toFixed(1)} s | ${n(fig.v2PerS)} | ${n(fig.v2Calls)} | — |

A v3 batch of 1,000 costs 1 create call plus 10 detail pages of 100 once its callback says FINISHED
(the sweep's fallback query, due 30 s after a batch last changed, never fires here). Payout requests were all created ${fig.requested.toFixed(1)} s after the trigger.
Peak RSS of the payouts service: ${n(fig.rss)} MB. Audit at the end: ${breaches.length === 0 ? 'passed' : `FAILED (${breaches.join(', ')})`}.

| target | met |
|---|---|
${Object.entries(checks).map(([k, v]) => `| ${k} | ${v ? 'yes' : '**no**'} |`).join('\n')}
`);

console.log(`bench:payouts users=${n(USERS)} settled_s=${fig.seconds.toFixed(1)} payouts_per_s=${n(fig.perS)} calls=${n(fig.calls)} calls_per_1000=${callsPerThousand.toFixed(1)} ` +
  `baseline_v2_s=${fig.v2Seconds.toFixed(1)} baseline_calls=${n(fig.v2Calls)} audit=${breaches.length === 0 ? 'ok' : 'FAILED'} ${pass ? 'PASS' : 'FAIL'}`);
process.exit(pass ? 0 : 1);
