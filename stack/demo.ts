// `npm run demo [-- --users N --seed S --wait SECONDS]`: plays realistic traffic from simulated users of several
// apps into the running pipeline (`npm start` in another terminal), with the ad networks and
// advertisers (the simulator `npm start` runs) confirming what they saw, and attackers forging what
// they did not; shows progress, and ends with a summary of what each stage did, beside the ground
// truth computed from the traffic itself. `--wait` gives a pipeline still starting that long to be ready.
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { join } from 'node:path';
import { loadConfig, port } from '../common/config.js';
import { aggregatorConfig } from '../aggregator/config.js';
import { ingestConfig } from '../ingest/config.js';
import { rewardsConfig } from '../rewards/config.js';
import { verifierKeysUrl } from './ad-network/keys.js';
import { createDriver, type Tally } from './drive.js';
import { root } from './supervisor.js';
import { add, expect, generate } from './traffic.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '3000' },
    seed: { type: 'string' },
    wait: { type: 'string', default: '0' },
  },
});
// Local development: the npm commands it runs may use the secrets published in this repository.
const env = { ...process.env, DEV_MODE: 'true' };
const ingest = loadConfig(ingestConfig, env);
const aggregator = loadConfig(aggregatorConfig, env);
const rewards = loadConfig(rewardsConfig, env);
const ingestUrl = `http://${ingest.INGEST_HOST}:${ingest.INGEST_PORT}`;
// The sandbox's admin listener (payouts/README.md, "The sandbox"): always on loopback.
const sandboxAdmin = loadConfig(z.object({ SANDBOX_ADMIN_PORT: port(8092) }), env);
const payouts = loadConfig(z.object({ PAYOUTS_HOST: z.string().default('127.0.0.1'), PAYOUTS_PORT: port(8082) }), env);
// The ad-network simulator (stack/ad-network/), and the AdMob verifier keys `npm start` gave the collector.
const adnet = loadConfig(
  z.object({
    ADNET_PORT: port(8093),
    STACK_DIR: z.string().default(join(root, '.stack')),
    ADNET_DIR: z.string().optional(),
  }),
  env,
);
const adnetUrl = `http://127.0.0.1:${adnet.ADNET_PORT}`;

const isReady = async () =>
  (
    await Promise.all(
      [`${ingestUrl}/readyz`, `${adnetUrl}/healthz`].map((u) =>
        fetch(u).then(
          (r) => r.ok,
          () => false,
        ),
      ),
    )
  ).every(Boolean);
const deadline = Date.now() + Number(values.wait) * 1000;
let ready = await isReady();
while (!ready && Date.now() < deadline) {
  await sleep(500);
  ready = await isReady();
}
if (!ready) {
  console.error(
    `The collector at ${ingestUrl} or the ad-network simulator at ${adnetUrl} is not ready. Start the pipeline first, in another terminal:\n\n  npm start\n`,
  );
  process.exit(1);
}

const now = Date.now();
const seed = Number(values.seed ?? now % 1_000_000);
const run = `demo${new Date(now).toISOString().slice(5, 19).replace(/\D/g, '')}`;
const scenario = generate({ run, users: Number(values.users), seed, now });
const expected = expect(scenario, { now, maxClicksPerDeviceHour: aggregator.AGGREGATOR_MAX_CLICKS_PER_DEVICE_HOUR });
const driver = createDriver({
  env,
  ingestUrl,
  rewardsUrl: `http://${rewards.REWARDS_HOST}:${rewards.REWARDS_PORT}`,
  sandboxUrl: rewards.WECHAT_OAUTH_URL,
  sandboxAdminUrl: `http://127.0.0.1:${sandboxAdmin.SANDBOX_ADMIN_PORT}`,
  payoutsUrl: `http://${payouts.PAYOUTS_HOST}:${payouts.PAYOUTS_PORT}`,
  adnetUrl,
  admobKeysUrl: ingest.INGEST_ADMOB_KEYS_URL.startsWith('file:')
    ? ingest.INGEST_ADMOB_KEYS_URL
    : verifierKeysUrl(adnet.ADNET_DIR ?? join(adnet.STACK_DIR, 'adnet')),
  databaseUrl: rewards.DATABASE_URL,
  clickhouseUrl: aggregator.CLICKHOUSE_URL,
  clickhouseDatabase: aggregator.CLICKHOUSE_DATABASE,
  kafka: aggregator,
  lags: [
    { group: aggregator.AGGREGATOR_GROUP, topic: aggregator.AGGREGATOR_TOPIC },
    { group: aggregator.AGGREGATOR_GROUP, topic: aggregator.AGGREGATOR_CONFIRMATIONS_TOPIC },
    { group: rewards.REWARDS_GROUP, topic: rewards.REWARDS_TOPIC },
  ],
  tokenSecret: rewards.REWARDS_TOKEN_SECRET,
  wechatAppid: rewards.WECHAT_APPID,
});

const tty = process.stdout.isTTY;
const totalRequests =
  scenario.users.reduce((n, u) => n + u.requests.reduce((m, r) => m + (r.duplicate ? 2 : 1), 0), 0) +
  scenario.bad.length +
  scenario.forged.length;
let lastShown = -1;
function bar(done: number, total: number, text: string) {
  const share = Math.min(1, done / Math.max(1, total));
  const step = Math.floor(share * 10);
  if (!tty && step === lastShown) return;
  lastShown = step;
  const line = `[${'#'.repeat(Math.round(share * 30)).padEnd(30, '.')}] ${String(Math.round(share * 100)).padStart(3)}% ${text}`;
  process.stdout.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
}
const stage = (text: string) => console.log(`${tty ? '\n' : ''}== ${text}`);

console.log(
  `demo run ${run} (seed ${seed}): ${scenario.users.length} users of ${scenario.apps.length} apps, ${scenario.campaigns.length} campaigns, ${totalRequests} requests`,
);
let claims: { stop(): Promise<void> } | undefined;
try {
  stage(
    'setting up apps, keys, campaigns, network secrets, ad units, reward rules, funding and WeChat links (npm run apps / npm run rewards)',
  );
  const keys = await driver.setup(scenario);
  const adnetBefore = await driver.s2s.stats();
  claims = driver.claims(scenario);
  stage('sending beacons; the ad networks and advertisers confirm (some late, some twice, some never)');
  const tally: Tally = await driver.play(scenario, keys, {
    onProgress: (t) =>
      bar(
        t.requests,
        totalRequests,
        `${t.requests}/${totalRequests} requests, ${t.accepted} events accepted, ${t.confirmsAsked} confirmations asked`,
      ),
  });
  const adnetAfter = await driver.s2s.delivered(300_000);
  stage('waiting for the aggregator and the rewards service to catch up');
  await driver.drained(600_000, (lags) => tty && process.stdout.write(`\r  consumer lag: ${lags.join(' / ')}\x1b[K`));
  stage(
    'waiting for payouts to settle: people confirm their transfer bills in WeChat, some never do (WeChat closes those after 24 h, here 86 s), the operator cancels a few',
  );
  await driver.payoutsSettled(
    scenario,
    600_000,
    (s) =>
      tty &&
      process.stdout.write(
        `\r  payouts: ${Object.entries(s)
          .map(([k, v]) => `${k} ${v.n}`)
          .join(', ')}\x1b[K`,
      ),
  );
  await claims.stop();
  stage(
    "the first app's advertiser ends its video campaign and asks for the budget it did not spend (npm run rewards -- end, refund)",
  );
  const refund = await driver.refundEnded(scenario);
  stage(
    "reconciling today's WeChat bills, the operating account's fund flow and the trade bill (the sandbox serves them at once; WeChat after 10:00 the next day)",
  );
  await driver.faults({ billsAtOnce: true });
  const reconciled = await driver.reconcile();
  const audited = await driver.audit();
  const seen = await driver.observe(scenario);

  const billsLine = (rec: Record<string, number>) =>
    ['paid', 'expired and released', 'cancelled'].map((k) => rec[k] ?? 0).join(' / ');
  const sum = (rec: Record<string, number>) => Object.values(rec).reduce((a, b) => a + b, 0);
  const byReason = (rec: Record<string, number>) =>
    Object.entries(rec)
      .sort(([ka, a], [kb, b]) => b - a || ka.localeCompare(kb))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  const counted = (pairs: [string, number][]) => {
    const out: Record<string, number> = {};
    for (const [key, n] of pairs) if (key) add(out, key, n);
    return out;
  };
  /** Rows by invalid reason (rows are keyed `${type}/${reason}`), and valid attributions by model. */
  const invalid = (rows: Record<string, number>) =>
    counted(Object.entries(rows).map(([k, n]) => [k.split('/')[1]!, n]));
  const models = (m: Map<string, { model: string; invalid: string }>) =>
    counted([...m.values()].map((a) => [a.invalid ? '' : a.model, 1]));
  const distinct = sum(seen.rows);
  const rewardedExpected = sum(Object.fromEntries(expected.rewards));
  // Confirmations: the simulator's deliveries in this run, against what the pipeline recorded once.
  const delivered = adnetAfter.delivered - adnetBefore.delivered;
  const confirmed = (c: { matched: Record<string, number>; noMatch: number }, duplicates: number) =>
    `${sum(c.matched)} / ${duplicates} / ${c.noMatch}`;
  const reasons = (m: Record<string, number>) =>
    byReason(Object.fromEntries(Object.entries(m).map(([k, v]) => [k || 'earns', v])));
  const refused = Object.fromEntries([...expected.forged].map(([kind, f]) => [kind, f.refused]));
  // Ground truth of the money in: every campaign was funded alike; the refunded one gives back what its earnings did not spend.
  const spentTruth = [...expected.spent.values()].reduce((a, b) => a + b, 0);
  const refundTruth =
    driver.fundedFen(scenario) / scenario.campaigns.length - (expected.spent.get(refund.campaignId) ?? 0);
  const lines: [string, string, string][] = [
    ['events accepted (202)', String(tally.accepted), String(expected.accepted)],
    ['requests rejected, by reason', byReason(tally.rejectedRequests), byReason(expected.rejectedRequests)],
    ['events rejected, by reason', byReason(tally.rejectedEvents), byReason(expected.rejectedEvents)],
    [
      'deduplicated (retries, replays)',
      String(tally.accepted - distinct),
      String(expected.accepted - sum(expected.rows)),
    ],
    ['events in ads.events', String(distinct), String(sum(expected.rows))],
    ['attributed (valid), by model', byReason(models(seen.attributions)), byReason(models(expected.attributions))],
    ['invalid traffic, by reason', byReason(invalid(seen.rows)), byReason(invalid(expected.rows))],
    [
      'confirmations never sent',
      String(adnetAfter.dropped - adnetBefore.dropped),
      String(expected.confirmations.dropped),
    ],
    [
      'confirmations matched / duplicate / no event',
      confirmed(seen.confirmations, delivered - seen.confirmations.recorded),
      confirmed(expected.confirmations, expected.confirmations.duplicates),
    ],
    ['confirmations matched, by outcome', reasons(seen.confirmations.matched), reasons(expected.confirmations.matched)],
    ['unverified (no confirmation)', String(seen.unconfirmed), String(expected.unconfirmed)],
    ['forged events, refused', byReason(seen.forged), byReason(refused)],
    ['forged callbacks, refused', byReason(tally.forgedCallbacks), byReason(expected.forgedCallbacks)],
    ['earnings, by outcome', byReason(seen.earnings), byReason(expected.earnings)],
    ['rewarded (fen)', String(seen.rewardedFen), String(rewardedExpected)],
    ['payouts', byReason(Object.fromEntries(Object.entries(seen.payouts).map(([k, v]) => [k, v.n]))), ''],
    ['bills: paid / expired, released / cancelled', billsLine(seen.bills.seen), billsLine(seen.bills.truth)],
    ['paid out (fen)', String(seen.payouts.paid?.fen ?? 0), ''],
    ['money in: top-ups paid and credited (fen)', String(seen.money.paidFen), String(driver.fundedFen(scenario))],
    [
      `refunded to the advertiser of ${refund.campaignId.split('-').pop()} (fen)`,
      `${seen.money.refundedFen} (${refund.state})`,
      `${refundTruth} (refunded)`,
    ],
    [
      'budgets left (fen)',
      String(seen.money.budgetsFen),
      String(driver.fundedFen(scenario) - spentTruth - refundTruth),
    ],
    ['held for review (fraud signals)', String(seen.review), ''],
    ['reconciliation: operating account', reconciled.out.split('\n')[0] ?? '', ''],
    ['reconciliation: trade bill', reconciled.out.split('\n').find((l) => l.includes('trade bill')) ?? 'none', ''],
    ['audit', audited.ok ? 'every invariant holds' : 'BREACH', ''],
  ];
  console.log('');
  for (const [what, got, want] of lines) {
    const check = want === '' ? '' : want === got ? '  ✓' : `  ✗ ground truth: ${want}`;
    console.log(`${what.padEnd(46)}${got}${check}`);
  }
  if (!audited.ok) console.log(`\n${audited.out}`);
  const matches = lines.every(([, got, want]) => want === '' || got === want);
  const first = scenario.users[0]!;
  console.log(
    `\n${matches ? 'Everything matches the ground truth computed from the traffic.' : 'MISMATCH against the ground truth (see above).'} Explore: npm run report, npm run audit, http://127.0.0.1:${rewards.REWARDS_PORT}/v1/users/${first.id}/balance (token: DEV_MODE=true npm run rewards -- token ${scenario.apps[first.app]} ${first.id})`,
  );
  process.exitCode = matches && audited.ok && reconciled.ok ? 0 : 1;
} finally {
  await claims?.stop();
  await driver.close();
}
