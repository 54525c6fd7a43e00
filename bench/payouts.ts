// `npm run bench:payouts`: 10,000 linked users cross the payout threshold at once; times the path from
// the trigger (their earnings produced to Kafka) to every payout settled in the ledger, through the
// rewards service, the payouts service and the WeChat Pay sandbox, each its own process. Rounds of
// each product, interleaved: transfer bills (the default; the sandbox's users confirm a share of
// them, the rest close unconfirmed and are released), v3 batches, and the baseline of one provider
// call each (APIv2 transfers). Reports wall time, payouts/s and the provider calls made. Writes its
// section of bench/RESULTS.md, prints one final line, exits 1 on a miss.
import type { ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { devSecrets } from '../common/config.js';
import { createSecretBox } from '../common/secretbox.js';
import { audit } from '../rewards/audit.js';
import { personKey } from '../common/person.js';
import { fen } from '../common/money.js';
import { fundingTransfer } from '../rewards/earnings.js';
import { createPgLedger } from '../rewards/ledger-pg.js';
import { EventType } from '../schemas/beacon-json.js';
import { pipeline } from '../schemas/gen/messages.js';
import { payoutOutcomes, queues } from '../schemas/queues.js';
import { earningId } from '../schemas/records.js';
import { freePort, waitForMembers } from '../test/support.js';
import { rssMb, startService, stopService } from './proc.js';
import { inConfirmingShare } from '../payouts/sandbox/transfer-bills.js';
import { median, writeSection } from './results.js';
import { benchDatabase, benchKafka, env, stackUp } from './setup.js';

const USERS = Number(process.env.BENCH_PAYOUT_USERS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const AMOUNT_FEN = 150;
/** The share of transfer bills the sandbox's users confirm (a second after the page could open); the rest close after 24 h × time scale. */
const CONFIRM_SHARE = 0.9;
const TIME_SCALE = 0.0005;
const targets = { callsPerThousand: 11, billCallsPerPayout: 2.1 };
type Api = 'v3_bill' | 'v3_batch' | 'v2_transfer';

stackUp();
const run = randomBytes(3).toString('hex');
const db = await benchDatabase(`payouts_${run}`);
const { url, pool } = db;
const APP = 'bench.app';
// The campaign belongs to the users' app: only then do their (confirmed) earnings earn.
await pool.query('insert into apps (app_id) values ($1)', [APP]);
await pool.query("insert into campaigns (campaign_id, app_id) values ('bench', $1)", [APP]);
await pool.query(
  `insert into reward_rules (campaign_id, reward_complete_fen, conversion_fen, effective_from) values ('bench', ${AMOUNT_FEN}, 0, now() - interval '1 hour')`,
);
await createPgLedger({ pool }).post([fundingTransfer('bench', fen(1e12), 'bench', 'CNY')]);
const box = createSecretBox(Buffer.from(devSecrets.REWARDS_ENCRYPTION_KEY, 'base64'));

const bench = await benchKafka(run);
const { admin, producer, newTopic } = bench;
const topic = await newTopic('earnings');
const deadLetters = await newTopic('earnings-dlq', 1);
const prefix = `bench-${run}`;

const [sandboxPort, sandboxTlsPort, sandboxAdminPort, payoutsPort] = [
  await freePort(),
  await freePort(),
  await freePort(),
  await freePort(),
];
const sandbox = startService('payouts/sandbox/main.ts', {
  LOG_LEVEL: 'warn',
  SANDBOX_PORT: String(sandboxPort),
  SANDBOX_TLS_PORT: String(sandboxTlsPort),
  SANDBOX_ADMIN_PORT: String(sandboxAdminPort),
  SANDBOX_STEP_MS: '1000',
  SANDBOX_AUTO_CONFIRM_MS: '1000',
  SANDBOX_AUTO_CONFIRM_SHARE: String(CONFIRM_SHARE),
  SANDBOX_TIME_SCALE: String(TIME_SCALE),
});
const group = `bench-rewards-${run}`;
const rewards = startService('rewards/main.ts', {
  LOG_LEVEL: 'error',
  DATABASE_URL: url,
  REWARDS_PORT: '0',
  REWARDS_OPS_PORT: '0',
  REWARDS_TOPIC: topic,
  REWARDS_GROUP: group,
  REWARDS_DEADLETTER_TOPIC: deadLetters,
  REWARDS_PAYOUT_QUEUE_PREFIX: prefix,
  WECHAT_OAUTH_URL: `http://127.0.0.1:${sandboxPort}`,
});
const payoutsEnv = (api: Api) => ({
  LOG_LEVEL: 'error',
  DATABASE_URL: url,
  PAYOUTS_PORT: String(payoutsPort),
  PAYOUTS_OPS_PORT: '0',
  PAYOUTS_QUEUE_PREFIX: prefix,
  PAYOUTS_API: api,
  WECHATPAY_BASE_URL: `https://127.0.0.1:${sandboxTlsPort}`,
  PAYOUTS_NOTIFY_URL: `https://127.0.0.1:${payoutsPort}/v1/wechat/notify`,
  PAYOUTS_TICK_MS: '250',
  PAYOUTS_BATCH_MAX_AGE_MS: '5000',
  PAYOUTS_POLL_MS: '30000',
  // Bills and batches at WeChat's own limits (100 and 50 calls/s); the v2 baseline as fast as it goes, as in earlier runs.
  ...(api === 'v2_transfer' ? { PAYOUTS_PROVIDER_QPS: '1000' } : {}),
});
await waitForMembers(admin, group, { members: 1, timeoutMs: 60_000, pollMs: 50 });

async function until<T>(
  what: string,
  read: () => Promise<T>,
  done: (v: T) => boolean,
  timeoutMs = 600_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}
const sandboxState = async () =>
  (await (await fetch(`http://127.0.0.1:${sandboxAdminPort}/sandbox/state`)).json()) as {
    paidFen: number;
    calls: Record<string, number>;
  };
const totalCalls = (s: { calls: Record<string, number> }) =>
  Object.entries(s.calls)
    .filter(([route]) => !route.startsWith('GET /healthz'))
    .reduce((n, [, c]) => n + c, 0);
const count = async (q: string, args: unknown[]) => Number((await pool.query<{ n: string }>(q, args)).rows[0]!.n);

interface Round {
  seconds: number;
  payoutsPerS: number;
  calls: number;
  batches: number;
  peakRssMb: number;
  requestedS: number;
  paid: number;
  released: number;
  paidS: number;
  byRoute: Record<string, number>;
}
/** USERS new users, linked to WeChat; one earning each crosses the threshold; times trigger -> all paid. */
async function round(api: Api, r: number): Promise<Round> {
  const users = Array.from({ length: USERS }, (_, i) => `${api}-${r}-${run}-${i}`);
  await pool.query(
    `insert into wechat_links (user_id, appid, openid_mac, openid_enc, access_token_enc, refresh_token_enc, token_expires_at)
    select u, 'wxd0000000sandbox', convert_to(u, 'UTF8'), o, '\\x00', '\\x00', now() from unnest($1::text[], $2::bytea[]) as x(u, o)`,
    [
      users.map((userId) => personKey({ appId: APP, userId })),
      users.map((u) =>
        box.seal(
          `o${u
            .replace(/[^A-Za-z0-9]/g, '')
            .slice(-27)
            .padStart(27, 'x')}`,
        ),
      ),
    ],
  );
  const payouts: ChildProcess = startService('payouts/main.ts', payoutsEnv(api));
  await until(
    'payouts ready',
    () =>
      fetch(`http://127.0.0.1:${payoutsPort}/readyz`)
        .then((res) => res.status)
        .catch(() => 0),
    (s) => s === 200,
    60_000,
  );
  const before = await sandboxState();
  const t0 = performance.now();
  for (let i = 0; i < users.length; i += 5_000) {
    await producer.send([
      {
        topic,
        messages: users.slice(i, i + 5_000).map((userId) => {
          const sourceEventId = randomUUID();
          const now = Date.now();
          const value = pipeline.v1.VerifiedEarning.encode({
            version: 1,
            earningId: earningId(sourceEventId),
            sourceEventId,
            appId: APP,
            userId,
            campaignId: 'bench',
            type: EventType.REWARD_COMPLETE,
            eventTime: now,
            verifiedAt: now,
            deviceId: `device-${userId}`,
            receivedAt: now,
            confirmation: `admob:${sourceEventId}`,
            confirmedAt: now,
          }).finish();
          return { key: userId, value: Buffer.from(value) };
        }),
      },
    ]);
  }
  let peak = 0;
  const inRound = `user_id like '${personKey({ appId: APP, userId: `${api}-${r}-${run}-%` })}'`;
  await until(
    'payout requests',
    () => count(`select count(*) as n from payouts where ${inRound}`, []),
    (n) => n >= USERS,
  );
  const requestedS = (performance.now() - t0) / 1000;
  // Bills: those the users confirm are paid; the others are released once WeChat closes them.
  const ids = (
    await pool.query<{ id: string }>(`select replace(payout_id::text, '-', '') as id from payouts where ${inRound}`)
  ).rows;
  const expectPaid = api === 'v3_bill' ? ids.filter((r) => inConfirmingShare(r.id, CONFIRM_SHARE)).length : USERS;
  let paidS = 0;
  await until(
    'payouts final',
    async () => {
      peak = Math.max(peak, rssMb(payouts));
      const { rows } = await pool.query<{ state: string; n: number }>(
        `select state, count(*)::int as n from payouts where ${inRound} group by state`,
      );
      const of = (s: string) => rows.find((x) => x.state === s)?.n ?? 0;
      if (!paidS && of('paid') >= expectPaid) paidS = (performance.now() - t0) / 1000;
      return { paid: of('paid'), released: of('released') };
    },
    (n) => n.paid + n.released >= USERS,
  );
  const seconds = (performance.now() - t0) / 1000;
  const paid = await count(`select count(*) as n from payouts where ${inRound} and state = 'paid'`, []);
  const after = await sandboxState();
  if (paid !== expectPaid) throw new Error(`${paid} payouts paid, not the ${expectPaid} whose users confirmed`);
  if (after.paidFen - before.paidFen !== paid * AMOUNT_FEN)
    throw new Error(`the sandbox paid ${after.paidFen - before.paidFen} fen, not ${paid * AMOUNT_FEN}`);
  if (process.env.BENCH_DEBUG) {
    const { rows } = await pool.query(
      `select e.state, min(e.at) as first, max(e.at) as last from payout_history e join payouts p using (payout_id) where p.${inRound} group by e.state order by 2`,
    );
    console.log(
      rows
        .map(
          (x: { state: string; first: Date; last: Date }) =>
            `${x.state} ${x.first.toISOString().slice(14, 23)}..${x.last.toISOString().slice(14, 23)}`,
        )
        .join('\n'),
    );
  }
  const batches = await count(`select count(distinct batch_no) as n from payout_transfers where ${inRound}`, []);
  await stopService(payouts);
  const byRoute: Record<string, number> = {};
  for (const [route, n] of Object.entries(after.calls))
    if (n > (before.calls[route] ?? 0) && !route.startsWith('GET /healthz'))
      byRoute[route] = n - (before.calls[route] ?? 0);
  return {
    seconds,
    payoutsPerS: USERS / seconds,
    calls: totalCalls(after) - totalCalls(before),
    batches,
    peakRssMb: peak,
    requestedS,
    paid,
    released: USERS - paid,
    paidS: paidS || seconds,
    byRoute,
  };
}

const rounds: Record<Api, Round[]> = { v3_bill: [], v3_batch: [], v2_transfer: [] };
for (let r = 1; r <= ROUNDS; r++) {
  for (const api of ['v3_bill', 'v3_batch', 'v2_transfer'] as const) rounds[api].push(await round(api, r));
  const [t, b, v] = [rounds.v3_bill.at(-1)!, rounds.v3_batch.at(-1)!, rounds.v2_transfer.at(-1)!];
  console.log(
    `round ${r}/${ROUNDS}: bills ${t.paidS.toFixed(1)} s to ${t.paid} paid, ${t.seconds.toFixed(1)} s to all final (${t.released} released), ${t.calls} calls ${JSON.stringify(t.byRoute)}; ` +
      `v3 batches ${b.seconds.toFixed(1)} s (requests ${b.requestedS.toFixed(1)} s), ${b.calls} calls in ${b.batches} batches; v2 one call each ${v.seconds.toFixed(1)} s, ${v.calls} calls`,
  );
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
  seconds: m('v3_batch', (r) => r.seconds),
  perS: m('v3_batch', (r) => r.payoutsPerS),
  calls: m('v3_batch', (r) => r.calls),
  batches: m('v3_batch', (r) => r.batches),
  requested: m('v3_batch', (r) => r.requestedS),
  rss: Math.max(...rounds.v3_batch.map((r) => r.peakRssMb)),
  v2Seconds: m('v2_transfer', (r) => r.seconds),
  v2PerS: m('v2_transfer', (r) => r.payoutsPerS),
  v2Calls: m('v2_transfer', (r) => r.calls),
  billPaidS: m('v3_bill', (r) => r.paidS),
  billSeconds: m('v3_bill', (r) => r.seconds),
  billCalls: m('v3_bill', (r) => r.calls),
  billPaid: m('v3_bill', (r) => r.paid),
  billRss: Math.max(...rounds.v3_bill.map((r) => r.peakRssMb)),
};
const billRoutes = rounds.v3_bill.at(-1)!.byRoute;
const callsPerThousand = fig.calls / (USERS / 1000);
const billCallsPerPayout = fig.billCalls / USERS;
const checks = {
  [`≤ ${targets.billCallsPerPayout} provider calls per payout (transfer bills)`]:
    billCallsPerPayout <= targets.billCallsPerPayout,
  [`≤ ${targets.callsPerThousand} provider calls per 1,000 payouts (v3 batches)`]:
    callsPerThousand <= targets.callsPerThousand,
  'every payout paid once (sandbox total = ledger total); audit passes': breaches.length === 0,
};
const pass = Object.values(checks).every(Boolean);
const n = (x: number) => Math.round(x).toLocaleString('en-US');

writeSection(
  'payouts',
  `## payouts: threshold payouts to WeChat wallets (\`npm run bench:payouts\`)

Run ${new Date().toISOString().slice(0, 16)}Z: ${ROUNDS === 1 ? '1 round of each product' : `${ROUNDS} interleaved rounds of each product (medians)`}. Each round links ${n(USERS)} new users to WeChat
and produces one ${AMOUNT_FEN}-fen earning for each to Kafka (the trigger); the rewards service posts them, crosses the
threshold and holds the money; the payouts service pays them through the WeChat Pay sandbox (its own process,
1 s per state), and the ledger settles or releases each payout. Timed from the trigger. All processes and the
stack share the 2 cores.

| product | trigger → paid | trigger → all final | payouts/s | provider calls |
|---|---:|---:|---:|---:|
| transfer bills (\`PAYOUTS_API=v3_bill\`, the default) | ${fig.billPaidS.toFixed(1)} s (${n(fig.billPaid)} paid) | ${fig.billSeconds.toFixed(1)} s | ${n(USERS / fig.billSeconds)} | ${n(fig.billCalls)} (${billCallsPerPayout.toFixed(2)} per payout) |
| v3 batch transfers (\`PAYOUTS_API=v3_batch\`) | ${fig.seconds.toFixed(1)} s | ${fig.seconds.toFixed(1)} s | ${n(fig.perS)} | ${n(fig.calls)} (${callsPerThousand.toFixed(1)} per 1,000) in ${n(fig.batches)} batches |
| baseline: one call per payout (\`PAYOUTS_API=v2_transfer\`) | ${fig.v2Seconds.toFixed(1)} s | ${fig.v2Seconds.toFixed(1)} s | ${n(fig.v2PerS)} | ${n(fig.v2Calls)} |

Transfer bills: the sandbox's users confirmed ${Math.round(CONFIRM_SHARE * 100)} % of the bills (\`SANDBOX_AUTO_CONFIRM_SHARE\`), a second after
each could be confirmed; the other ${Math.round((1 - CONFIRM_SHARE) * 100)} % closed unconfirmed after 24 h × ${TIME_SCALE} (${(86_400 * TIME_SCALE).toFixed(0)} s) and their money went back to the users.
Each bill is one create and, when its BILL.FINISHED callback arrives, one query; WeChat allows 100 calls/s per merchant
for bills, and the payouts service keeps to it (\`PAYOUTS_PROVIDER_QPS\`), which sets the pace: ${n(USERS)} bills need at least
${((2 * USERS) / 100).toFixed(0)} s of calls. Calls in the last round: ${Object.entries(billRoutes)
    .map(([k, v]) => `${k} ${n(v)}`)
    .join(', ')}.
A v3 batch of 1,000 costs 1 create call plus 10 detail pages of 100 once its callback says FINISHED (50 calls/s);
the v2 baseline runs at up to 1,000 calls/s, as in earlier runs.
Payout requests were all created ${fig.requested.toFixed(1)} s after the trigger (v3 batch rounds).
Peak RSS of the payouts service: ${n(fig.billRss)} MB (bills), ${n(fig.rss)} MB (batches). Audit at the end: ${breaches.length === 0 ? 'passed' : `FAILED (${breaches.join(', ')})`}.

| target | met |
|---|---|
${Object.entries(checks)
  .map(([k, v]) => `| ${k} | ${v ? 'yes' : '**no**'} |`)
  .join('\n')}
`,
);

console.log(
  `bench:payouts users=${n(USERS)} bills_paid_s=${fig.billPaidS.toFixed(1)} bills_final_s=${fig.billSeconds.toFixed(1)} bill_calls_per_payout=${billCallsPerPayout.toFixed(2)} settled_s=${fig.seconds.toFixed(1)} payouts_per_s=${n(fig.perS)} calls=${n(fig.calls)} calls_per_1000=${callsPerThousand.toFixed(1)} ` +
    `baseline_v2_s=${fig.v2Seconds.toFixed(1)} baseline_calls=${n(fig.v2Calls)} audit=${breaches.length === 0 ? 'ok' : 'FAILED'} ${pass ? 'PASS' : 'FAIL'}`,
);
process.exit(pass ? 0 : 1);
