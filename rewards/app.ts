// Builds a running rewards service from its config: the earnings-topic consumer that posts to the
// ledger, the payout-request and refund-request hand-offs to BullMQ, the payout and funding outcome
// workers, and the API. main.ts runs one; tests and benchmarks run their own.
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createPool } from '../common/sql.js';
import { createFailureTracker, isolate, trackJob } from '../common/consumer-faults.js';
import { PipelineError } from '../common/errors.js';
import { createKafka, watchConsumer, withHeartbeats } from '../common/kafka.js';
import { createProducer } from '../common/kafka-producer.js';
import type { Logger } from '../common/log.js';
import type { Stoppable } from '../common/shutdown.js';
import {
  fundingOutcomes,
  payoutOutcomes,
  queues,
  refundRequests,
  type FundingOutcomeJob,
  type PayoutOutcomeJob,
  type PayoutRequestJob,
  type RefundRequestJob,
} from '../schemas/queues.js';
import { deadLetter } from '../schemas/records.js';
import { createApi } from './api.js';
import { createCampaigns } from './campaigns-pg.js';
import type { RewardsConfig } from './config.js';
import { createEarningsPoster } from './earnings-pg.js';
import { startApiServer } from '../common/http-server.js';
import { startOpsServer } from '../common/ops-server.js';
import { createFunding } from './funding-pg.js';
import { createPgLedger } from './ledger-pg.js';
import { createMetrics } from './metrics.js';
import { createPayoutsStore } from './payouts-pg.js';
import { readEarning } from './records.js';
import { createSecretBox } from '../common/secretbox.js';
import { createTokenSecrets } from '../common/token-secrets-pg.js';
import { createUsersStore } from './users-pg.js';
import { createWechatOAuth } from './wechat-oauth.js';

const HEARTBEAT_MS = 3_000;
const WEEK_S = 7 * 86_400;

/**
 * Test hook: called at each step of a batch (posted, committed), and after a funding outcome's
 * ledger commit before its job completes (funding_applied), so a test can kill the process there.
 */
export type Step = 'posted' | 'committed' | 'funding_applied';

export async function createRewards(config: RewardsConfig, deps: { log: Logger; onStep?(step: Step): void }) {
  const log = deps.log.child({ mod: 'rewards' });
  const metrics = createMetrics();
  // Consecutive failures of the earnings partitions and the outcome queue (README "Failure semantics").
  const faults = createFailureTracker(
    { service: 'rewards', stallAfter: config.REWARDS_STALL_AFTER_FAILURES },
    { registry: metrics.registry },
  );
  // Every statement here finds rows by key. Planned on the statistics of young tables (a new
  // deployment, a burst of new users), Postgres would scan a whole table per batch instead; and
  // costing an index probe as a random disk read (the default 4), it would rather walk a whole
  // index in order than probe it once per key (the balances of a batch's users: README "Plans").
  const pool = createPool(
    { url: config.DATABASE_URL, max: config.REWARDS_PG_POOL, options: '-c enable_seqscan=off -c random_page_cost=1.1' },
    { log },
  );
  const ledger = createPgLedger({ pool, onRetry: metrics.retried });
  const money = {
    userDailyLimitFen: config.REWARDS_USER_DAILY_LIMIT_FEN,
    deviceDailyLimitFen: config.REWARDS_DEVICE_DAILY_LIMIT_FEN,
    timezoneOffsetMs: config.REWARDS_MONEY_TIMEZONE_OFFSET_MIN * 60_000,
  };
  const postEarnings = createEarningsPoster(
    { thresholdFen: config.REWARDS_PAYOUT_THRESHOLD_FEN, currency: config.REWARDS_CURRENCY, money },
    { ledger, onContention: () => metrics.retried('23514') },
  );
  const payouts = createPayoutsStore({ currency: config.REWARDS_CURRENCY }, { ledger, pool });
  const funding = createFunding({ currency: config.REWARDS_CURRENCY }, { ledger });
  const campaigns = createCampaigns({ currency: config.REWARDS_CURRENCY }, { pool });
  const box = createSecretBox(Buffer.from(config.REWARDS_ENCRYPTION_KEY, 'base64'));
  const users = createUsersStore({ currency: config.REWARDS_CURRENCY }, { pool, box });
  // Every app's live user-token secrets, for the API (README "Auth").
  const tokenSecrets = await createTokenSecrets(
    { DATABASE_URL: config.DATABASE_URL, refreshMs: config.REWARDS_TOKEN_SECRETS_REFRESH_MS },
    { log },
  );

  // BullMQ needs maxRetriesPerRequest null; Redis must run with maxmemory-policy noeviction.
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue<PayoutRequestJob>(queues.payoutRequests.name, {
    connection: redis,
    prefix: config.REWARDS_PAYOUT_QUEUE_PREFIX,
  });
  queue.on('error', (err) => log.warn({ err }, 'queue_error')); // Redis away: BullMQ reconnects
  /** Hands payout requests to the payouts service; the job id is the payout id, so a repeat is a no-op. */
  async function enqueue(payoutIds: string[]): Promise<void> {
    if (payoutIds.length === 0) return;
    await queue.addBulk(
      payoutIds.map((payoutId) => ({
        name: queues.payoutRequests.jobName,
        data: { payoutId },
        opts: { jobId: payoutId, removeOnComplete: { age: WEEK_S }, removeOnFail: { age: 4 * WEEK_S } },
      })),
    );
  }
  // A campaign refund, its hold in place, to the payouts service (job id = refund id: a repeat is a
  // no-op). A hand-off lost here is found by the payouts sweep (requested, no parts yet).
  const refundQueue = new Queue<RefundRequestJob>(refundRequests.name, {
    connection: redis,
    prefix: config.REWARDS_PAYOUT_QUEUE_PREFIX,
  });
  refundQueue.on('error', (err) => log.warn({ err }, 'queue_error'));
  const enqueueRefund = async (refundId: string) =>
    void (await refundQueue.add(
      refundRequests.jobName,
      { refundId },
      {
        jobId: refundId,
        attempts: 12,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: { age: WEEK_S },
        removeOnFail: { age: 4 * WEEK_S },
      },
    ));

  // A crash between a commit and its hand-off leaves a request behind: hand such requests off again.
  const requeue =
    config.REWARDS_REQUEUE_INTERVAL_MS > 0
      ? setInterval(() => {
          payouts
            .requested(1_000)
            .then(enqueue)
            .catch((err: unknown) => log.warn({ err }, 'requeue_failed'));
        }, config.REWARDS_REQUEUE_INTERVAL_MS)
      : undefined;

  // The payouts service's outcomes, applied to the ledger once each. A reversal that arrives before
  // its settle fails the job, so BullMQ retries it after the settle; poison (a payout found in
  // another state) is logged with its reason and set aside, never retried.
  const outcomeConnection = redis.duplicate();
  const outcomeWorker = new Worker<PayoutOutcomeJob>(
    payoutOutcomes.name,
    (job) =>
      trackJob(
        faults,
        payoutOutcomes.name,
        async () => {
          // One payout in a state its outcome cannot follow is set aside alone (finishMany is idempotent),
          // so it never holds back the other payouts of its list.
          const { results: parts, poison } = await isolate(job.data.outcomes, async (part) => {
            const results = await payouts.finishMany(
              part.map((o) => ({ payoutId: o.payoutId, phase: o.outcome })),
              { by: 'payouts' },
            );
            return part.map((o, i) => [o, results[i]!] as const);
          });
          for (const { item, fault } of poison) log.error({ ...item, reason: fault.reason }, 'payout_outcome_poisoned');
          faults.poisoned(poison.length);
          const results = parts.flat();
          for (const [o, result] of results) {
            metrics.payoutFinished(o.outcome, result);
            if (result === 'already_finished' || result === 'not_found')
              log.error({ ...o, result }, 'payout_outcome_conflict');
          }
          if (results.some(([, result]) => result === 'not_yet'))
            throw new PipelineError('reversal_before_settle', 'a reversal arrived before its settle', {
              retriable: true,
            });
        },
        (reason) => new UnrecoverableError(reason),
      ),
    { connection: outcomeConnection, prefix: config.REWARDS_PAYOUT_QUEUE_PREFIX, concurrency: 4 },
  );
  outcomeWorker.on('failed', (job, err) => log.warn({ err, id: job?.id }, 'payout_outcome_failed'));
  outcomeWorker.on('error', (err) => log.warn({ err }, 'queue_error')); // Redis away: BullMQ reconnects

  // Money in from the payouts service: a paid order's credit, a refund part's settle or release, each
  // posted once under its own ledger key (a repeated job changes nothing). An outcome for a row in
  // another state (an order not paid, a settle for a part that failed) is logged and set aside in
  // the failed set, never retried; a fault (Postgres away) keeps BullMQ's backoff. A job a crash left
  // half done comes back within about 15 s (BullMQ's defaults: a minute), as the payouts service's do.
  const fundingConnection = redis.duplicate();
  const fundingWorker = new Worker<FundingOutcomeJob>(
    fundingOutcomes.name,
    (job) =>
      trackJob(
        faults,
        fundingOutcomes.name,
        async () => {
          const result = await funding.apply(job.data);
          metrics.fundingApplied(job.data.kind, result.status === 'set_aside' ? result.reason : result.status);
          if (result.status === 'set_aside') {
            log.error({ ...job.data, reason: result.reason, detail: result.detail }, 'funding_outcome_set_aside');
            throw new PipelineError(
              result.reason,
              `${job.data.kind} set aside: ${result.reason}${result.detail ? ` (${result.detail})` : ''}`,
              { retriable: false },
            );
          }
          if (result.refundState) log.info({ ...job.data, state: result.refundState }, 'campaign_refund_finished');
          deps.onStep?.('funding_applied');
        },
        (reason) => new UnrecoverableError(reason),
      ),
    {
      connection: fundingConnection,
      prefix: config.REWARDS_PAYOUT_QUEUE_PREFIX,
      concurrency: 4,
      lockDuration: 10_000,
      stalledInterval: 5_000,
    },
  );
  fundingWorker.on('failed', (job, err) => log.warn({ err, id: job?.id }, 'funding_outcome_failed'));
  fundingWorker.on('error', (err) => log.warn({ err }, 'queue_error'));

  const kafka = createKafka({ ...config, clientId: 'rewards' }, { log });
  const producer = createProducer({ ...config, clientId: 'rewards' }, { log });
  await producer.connect();
  const consumer = kafka.consumer({
    groupId: config.REWARDS_GROUP,
    sessionTimeout: config.REWARDS_SESSION_TIMEOUT_MS,
    heartbeatInterval: HEARTBEAT_MS,
    allowAutoTopicCreation: false,
  });
  const membership = watchConsumer(consumer, log);
  consumer.on(consumer.events.GROUP_JOIN, (e) => faults.retain(e.payload.memberAssignment)); // a partition moved away no longer stalls this process

  /**
   * One step of a partition's records: what cannot be read, and any record Postgres refuses as
   * poison (found by splitting the step until it is alone), is dead-lettered with its reason; the
   * rest is posted, handed off, and the offsets committed past all of it.
   */
  async function step(
    batch: { topic: string; partition: number },
    messages: { key: Buffer | null; value: Buffer | null; offset: string }[],
  ): Promise<void> {
    const read = messages.map((m) => ({ m, r: readEarning(m.value) }));
    const valid = read.flatMap(({ m, r }) => (r.ok ? [{ m, earning: r.earning }] : []));
    const done = metrics.batchTimer();
    const { results, poison } = await isolate(valid, (part) => postEarnings(part.map((v) => v.earning)), {
      allPoisonRetriable: true,
    });
    done();
    const deadLetters = [
      ...read.flatMap(({ m, r }) => (r.ok ? [] : [deadLetter(m, r.reason, batch)])),
      ...poison.map(({ item, fault }) => deadLetter(item.m, fault.reason, batch)),
    ];
    for (const d of deadLetters)
      log.warn(
        { reason: d.headers.dlq_reason, partition: batch.partition, offset: d.headers.dlq_offset },
        'earning_dead_lettered',
      );
    await producer.send([{ topic: config.REWARDS_DEADLETTER_TOPIC, messages: deadLetters }]);
    deps.onStep?.('posted');
    const payoutIds = results.flatMap((posted) => posted.payouts.map((p) => p.payoutId));
    await enqueue(payoutIds);
    await consumer.commitOffsets([
      { topic: batch.topic, partition: batch.partition, offset: (BigInt(messages.at(-1)!.offset) + 1n).toString() },
    ]);
    deps.onStep?.('committed');
    for (const posted of results) {
      metrics.posted(posted.records, posted.replayed);
      posted.payouts.forEach((p) => metrics.payoutRequested(p.source));
    }
    metrics.deadLettered(deadLetters.length);
    faults.poisoned(deadLetters.length);
  }

  await consumer.connect();
  await consumer.subscribe({ topic: config.REWARDS_TOPIC, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: config.REWARDS_PARTITIONS_CONCURRENTLY,
    eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
      await withHeartbeats(heartbeat, { intervalMs: HEARTBEAT_MS, log }, async () => {
        const key = `${batch.topic}:${batch.partition}`;
        for (let start = 0; start < batch.messages.length; start += config.REWARDS_BATCH_MAX) {
          if (!isRunning() || isStale()) return;
          const messages = batch.messages.slice(start, start + config.REWARDS_BATCH_MAX);
          try {
            await step(batch, messages);
            faults.succeeded(key);
          } catch (err) {
            const fault = faults.failed(key, err); // thrown on: kafkajs retries the batch with backoff
            log.warn(
              { err, kind: fault.kind, code: fault.code, topic: batch.topic, partition: batch.partition },
              'earnings_step_failed',
            );
            throw err;
          }
        }
      });
    },
  });

  const oauth = createWechatOAuth({
    baseUrl: config.WECHAT_OAUTH_URL,
    appid: config.WECHAT_APPID,
    secret: config.WECHAT_APP_SECRET,
    timeoutMs: config.WECHAT_TIMEOUT_MS,
  });
  const handle = createApi(
    {
      platformTokenSecret: config.REWARDS_TOKEN_SECRET,
      operatorToken: config.REWARDS_OPERATOR_TOKEN,
      tokenMaxTtlS: config.REWARDS_TOKEN_MAX_TTL_S,
      minWithdrawalFen: config.REWARDS_MIN_WITHDRAWAL_FEN,
    },
    {
      users,
      payouts,
      oauth,
      now: Date.now,
      appSecrets: tokenSecrets.appSecrets,
      funding,
      campaigns,
      onPayout: (id) => enqueue([id]).catch((err: unknown) => log.warn({ err }, 'payout_handoff_deferred')),
      onRefund: async (id) => {
        metrics.refundRequested();
        await enqueueRefund(id).catch((err: unknown) => log.warn({ err, refundId: id }, 'refund_handoff_deferred'));
      },
    },
  );
  let stopping = false;
  // The public port's /readyz says whether the API can serve (a load balancer routes by it); the ops
  // port's also says whether the consumer keeps failing, for whoever watches the pipeline.
  const ready = () => membership.joined && !stopping && redis.status === 'ready';
  const opsReady = () => ready() && !faults.stalled;
  const limits = {
    requestTimeoutMs: config.REWARDS_HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: config.REWARDS_HTTP_KEEPALIVE_TIMEOUT_MS,
    idleTimeoutMs: config.REWARDS_HTTP_IDLE_TIMEOUT_MS,
    maxConnections: config.REWARDS_HTTP_MAX_CONNECTIONS,
  };
  const server = await startApiServer(
    { host: config.REWARDS_HOST, port: config.REWARDS_PORT, limits },
    { log, handle, observe: metrics.responded, ready },
  );
  // /metrics on a listener of its own (loopback by default), never on the public API port.
  const ops = await startOpsServer(
    { host: config.REWARDS_OPS_HOST, port: config.REWARDS_OPS_PORT },
    { registry: metrics.registry, ready: opsReady },
  );
  log.info(
    { port: server.port, opsPort: ops.port, topic: config.REWARDS_TOPIC, group: config.REWARDS_GROUP },
    'rewards_started',
  );

  // Stopped in reverse: the consumer finishes its batch and leaves the group, the API stops
  // accepting, then the hand-off and the stores close.
  const parts: Stoppable[] = [
    { name: 'ops', stop: () => ops.stop() },
    { name: 'postgres', stop: () => pool.end() },
    { name: 'token_secrets', stop: () => tokenSecrets.stop() },
    { name: 'redis', stop: async () => void (await redis.quit()) },
    {
      name: 'queue',
      stop: async () => {
        clearInterval(requeue);
        await queue.close();
        await refundQueue.close();
      },
    },
    {
      name: 'funding',
      stop: async () => {
        await fundingWorker.close();
        await fundingConnection.quit();
      },
    },
    {
      name: 'outcomes',
      stop: async () => {
        await outcomeWorker.close();
        await outcomeConnection.quit();
      },
    },
    { name: 'producer', stop: () => producer.disconnect() },
    { name: 'http', stop: () => server.stop() },
    {
      name: 'consumer',
      stop: async () => {
        stopping = true;
        await consumer.disconnect();
      },
    },
  ];
  return {
    port: server.port,
    opsPort: ops.port,
    parts,
    metrics,
    ledger,
    payouts,
    users,
    funding,
    campaigns,
    pool,
    failed: membership.failed,
  };
}
