// `npm run rewards -- <command>`: the operator's commands for the money side.
//   rule <campaign_id> --complete <fen> --conversion <fen> [--daily-cap <fen>] [--fee-bps <n>]
//       a new reward rule version, in effect from now (earnings verified before keep the old one)
//   fund <campaign_id> <fen> <reference>   advertiser money into the campaign's budget; the
//       reference (e.g. the advertiser's payment id) makes a repeated command a no-op
//   token <app_id> <user_id> [--ttl-s <s>] a user API token for the person (app, user), signed with
//       the platform's own REWARDS_TOKEN_SECRET
//   app-secret <app_id>                    issues a user-token secret for the app's backend, printing
//       `<secret_id> <secret>`: it mints tokens for that app's users only
//   app-secret-revoke <secret_id>          revokes one; running services refuse it within seconds
//   review approve|reject <earning_id>     decide on an earning held for review (a platform daily
//       limit): approve pays it from its budget, once; reject records that it is not paid
//   review list [--limit <n>]              the earnings waiting for a decision, oldest first
//   advertiser <advertiser_id> [campaign_id ...] [--ttl-s <s>]
//       registers the advertiser, binds the campaigns to it (creating a campaign's row if it has none;
//       refusing one bound to another advertiser) and prints an advertiser token
//   end <campaign_id>                      ends the campaign now: its unspent budget may be refunded
//   refund <campaign_id> [fen] [--reason <text>]
//       refunds an ended campaign's unspent budget (all that top-ups paid in by default) to its advertiser
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { devSecrets, exitOnPublishedSecrets, loadConfig } from '../common/config.js';
import { isUuid } from '../common/name-uuid.js';
import { isAppId, isUserId } from '../common/person.js';
import { loadSql } from '../common/sql.js';
import { isAdvertiserId, signAdvertiserToken, signUserToken } from '../common/auth.js';
import { fen } from '../common/money.js';
import { refundRequests } from '../schemas/queues.js';
import { rewardsConfig } from './config.js';
import { createFunding, fundCampaign } from './funding-pg.js';
import { createPgLedger, refusal } from './ledger-pg.js';
import { createEarningReviews, type ReviewResult } from './reviews-pg.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'insert-rule',
  'insert-app-token-secret',
  'revoke-app-token-secret',
  'insert-advertiser',
  'bind-campaigns',
  'end-campaign',
] as const);
const config = loadConfig(rewardsConfig, process.env);
const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    complete: { type: 'string' },
    conversion: { type: 'string' },
    'daily-cap': { type: 'string' },
    'fee-bps': { type: 'string', default: '0' },
    'ttl-s': { type: 'string', default: '86400' },
    limit: { type: 'string', default: '100' },
    reason: { type: 'string', default: '' },
  },
});
const [command, subject, ...rest] = positionals;
const fail = (message: string) => {
  console.error(message);
  process.exit(2);
};

/** The --ttl-s of a token, within what the services accept. */
function ttlS(): number {
  const ttl = Number(values['ttl-s']);
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > config.REWARDS_TOKEN_MAX_TTL_S)
    fail(
      `--ttl-s must be 1..${config.REWARDS_TOKEN_MAX_TTL_S} (REWARDS_TOKEN_MAX_TTL_S): the services refuse longer-lived tokens`,
    );
  return ttl;
}
const refused: Record<string, string> = {
  not_found: 'no such campaign, or no advertiser is bound to it (npm run rewards -- advertiser)',
  campaign_not_ended: 'the campaign has not ended (npm run rewards -- end <campaign_id>)',
  nothing_to_refund: 'nothing to refund: the budget holds nothing that top-ups paid in and no refund took yet',
  exceeds_refundable: 'the amount exceeds the budget or what its credited top-ups still carry',
};

const reviewed: Record<ReviewResult, string> = {
  approved: "approved: paid from its campaign's budget",
  rejected: 'rejected: it will not be paid',
  not_found: 'no earning with this id was held for review',
  already_decided: 'already decided; a decision is made once',
  budget_exhausted: "refused: its campaign's budget cannot cover it (still in review)",
  daily_cap: "refused: it would pass its campaign's daily cap for this person on its day (still in review; reject it)",
  no_rule: 'refused: its campaign has no rule for when it was verified (still in review)',
};

if (command === 'token') {
  exitOnPublishedSecrets(config, {
    devMode: config.DEV_MODE,
    published: { REWARDS_TOKEN_SECRET: devSecrets.REWARDS_TOKEN_SECRET },
  });
  const [userId] = rest;
  if (!subject || !isAppId(subject) || !userId || !isUserId(userId))
    fail('token needs <app_id> <user_id>: a token binds one person (app, user)');
  console.log(
    signUserToken(
      config.REWARDS_TOKEN_SECRET,
      { appId: subject!, userId: userId! },
      { ttlS: ttlS(), nowMs: Date.now() },
    ),
  );
} else if (command === 'advertiser') {
  exitOnPublishedSecrets(config, {
    devMode: config.DEV_MODE,
    published: { REWARDS_TOKEN_SECRET: devSecrets.REWARDS_TOKEN_SECRET },
  });
  if (!subject || !isAdvertiserId(subject))
    fail('advertiser needs <advertiser_id> (1..64 of A-Z a-z 0-9 _ . -) [campaign_id ...]');
  const bad = rest.find((c) => c.length < 1 || c.length > 64);
  if (bad !== undefined) fail(`campaign ids are 1..64 characters: ${JSON.stringify(bad)}`);
  const ttl = ttlS();
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 1 });
  const client = await pool.connect();
  try {
    // All or nothing: a campaign bound to another advertiser refuses the whole command.
    await client.query('begin');
    await client.query(sql['insert-advertiser'], [subject]);
    const bound = new Set(
      (await client.query<{ campaign_id: string }>(sql['bind-campaigns'], [subject, [...new Set(rest)]])).rows.map(
        (r) => r.campaign_id,
      ),
    );
    const taken = rest.filter((c) => !bound.has(c));
    if (taken.length > 0) {
      await client.query('rollback');
      console.error(`bound to another advertiser, nothing changed: ${taken.join(' ')}`);
      process.exitCode = 1;
    } else {
      await client.query('commit');
      console.log(signAdvertiserToken(config.REWARDS_TOKEN_SECRET, subject!, { ttlS: ttl, nowMs: Date.now() }));
    }
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
    await pool.end();
  }
} else if (command === 'end' && subject) {
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 1 });
  try {
    const { rows } = await pool.query<{ ends_at: Date }>(sql['end-campaign'], [subject]);
    if (rows.length) console.log(`${subject} ended at ${rows[0]!.ends_at.toISOString()}`);
    else {
      console.error(
        `no campaign ${subject} with an advertiser (npm run rewards -- advertiser <advertiser_id> ${subject})`,
      );
      process.exitCode = 1;
    }
  } finally {
    await pool.end();
  }
} else if (command === 'refund' && subject) {
  const [amount] = rest;
  if (amount !== undefined && !/^[1-9]\d{0,15}$/.test(amount))
    fail('refund takes an amount in fen (a positive integer), or none for all that may be refunded');
  if ([...values.reason!].length > 200) fail('--reason is at most 200 characters');
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 2 });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(refundRequests.name, { connection: redis, prefix: config.REWARDS_PAYOUT_QUEUE_PREFIX });
  try {
    const result = await createFunding(
      { currency: config.REWARDS_CURRENCY },
      { ledger: createPgLedger({ pool }) },
    ).requestRefund({
      campaignId: subject,
      reason: values.reason!,
      idempotencyKey: `cli-${randomUUID()}`,
      ...(amount !== undefined ? { amountFen: fen(amount) } : {}),
    });
    if (result.status !== 'created' && result.status !== 'exists') {
      console.error(`${subject}: ${refused[result.status] ?? result.status}`);
      process.exitCode = 1;
    } else {
      const r = result.refund;
      // Job id = refund id, as the API hands it off; should this fail, the payouts sweep finds the refund.
      await queue
        .add(
          refundRequests.jobName,
          { refundId: r.refundId },
          { jobId: r.refundId, attempts: 12, backoff: { type: 'exponential', delay: 1_000 } },
        )
        .catch((err: unknown) =>
          console.error(`not handed off now (${String(err)}); the payouts service's sweep will find it`),
        );
      console.log(`${r.refundId} ${r.campaignId} ${r.amountFen} fen ${r.state}`);
    }
  } finally {
    await queue.close();
    await redis.quit();
    await pool.end();
  }
} else if (command === 'app-secret' || command === 'app-secret-revoke') {
  if (command === 'app-secret' && (!subject || !isAppId(subject))) fail('app-secret needs <app_id>');
  if (command === 'app-secret-revoke' && !/^[1-9]\d{0,18}$/.test(subject ?? ''))
    fail('app-secret-revoke needs <secret_id> (a positive integer)');
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 1 });
  try {
    if (command === 'app-secret') {
      const secret = randomBytes(32).toString('base64url');
      const { rows } = await pool.query<{ secret_id: string }>(sql['insert-app-token-secret'], [subject, secret]);
      if (!rows.length) fail(`no app ${subject}: register it first (npm run apps -- create ${subject})`);
      else console.log(`${rows[0]!.secret_id} ${secret}`);
    } else {
      const { rows } = await pool.query<{ app_id: string }>(sql['revoke-app-token-secret'], [subject]);
      if (rows.length) console.log(`revoked ${subject} (app ${rows[0]!.app_id})`);
      else {
        console.error(`no app token secret ${subject}`);
        process.exitCode = 1;
      }
    }
  } finally {
    await pool.end();
  }
} else if (command === 'review' && subject === 'list') {
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) fail('--limit must be 1..10000');
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 1 });
  try {
    // One line each: <earning_id> <app_id> <user_id> <campaign_id> <reason> <amount_fen> <fee_fen> <day>
    // (a user or campaign id with a space, a non-ASCII character or a leading quote is JSON-quoted).
    const word = (s: string) => (/^[\x21-\x7e]+$/.test(s) && !s.startsWith('"') ? s : JSON.stringify(s));
    for (const h of await createEarningReviews({ ledger: createPgLedger({ pool }) }).held(limit)) {
      console.log(
        [h.earningId, h.appId, word(h.userId), word(h.campaignId), h.reason, h.amountFen, h.feeFen, h.day].join(' '),
      );
    }
  } finally {
    await pool.end();
  }
} else if (command === 'review' && (subject === 'approve' || subject === 'reject')) {
  const [earningId] = rest;
  if (!earningId || !isUuid(earningId)) fail('review approve|reject needs <earning_id> (a UUID)');
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 1 });
  try {
    const reviews = createEarningReviews({ ledger: createPgLedger({ pool }) });
    const result = await (subject === 'approve' ? reviews.approve(earningId!) : reviews.reject(earningId!));
    console.log(`${earningId}: ${reviewed[result]}`);
    process.exitCode = result === 'approved' || result === 'rejected' ? 0 : 1;
  } finally {
    await pool.end();
  }
} else if ((command === 'rule' || command === 'fund') && subject) {
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 1 });
  try {
    if (command === 'rule') {
      if (values.complete === undefined || values.conversion === undefined)
        fail('rule needs --complete <fen> and --conversion <fen>');
      const cap = values['daily-cap'] === undefined ? null : fen(values['daily-cap']).toString();
      const { rows } = await pool.query<{ effective_from: Date }>(sql['insert-rule'], [
        subject,
        config.REWARDS_CURRENCY,
        fen(values.complete!).toString(),
        fen(values.conversion!).toString(),
        cap,
        Number(values['fee-bps']),
      ]);
      console.log(`rule for ${subject} in effect from ${rows[0]!.effective_from.toISOString()}`);
    } else {
      const [amount, reference] = rest;
      if (!amount || !reference) fail('fund needs <fen> <reference>');
      const amountFen = fen(amount!);
      const result = await fundCampaign(
        createPgLedger({ pool }),
        subject,
        amountFen,
        reference!,
        config.REWARDS_CURRENCY,
      );
      const refused = refusal(result);
      if (refused) fail(refused.message);
      console.log(
        `${result.status === 'created' ? 'funded' : 'already funded'}: ${subject} +${amountFen} fen (${reference})`,
      );
    }
  } finally {
    await pool.end();
  }
} else {
  fail(
    'usage: rewards rule <campaign_id> --complete <fen> --conversion <fen> [--daily-cap <fen>] [--fee-bps <n>]\n' +
      '       rewards fund <campaign_id> <fen> <reference>\n       rewards token <app_id> <user_id> [--ttl-s <s>]\n' +
      '       rewards app-secret <app_id>\n       rewards app-secret-revoke <secret_id>\n' +
      '       rewards review approve|reject <earning_id>\n       rewards review list [--limit <n>]\n' +
      '       rewards advertiser <advertiser_id> [campaign_id ...] [--ttl-s <s>]\n       rewards end <campaign_id>\n' +
      '       rewards refund <campaign_id> [fen] [--reason <text>]',
  );
}
