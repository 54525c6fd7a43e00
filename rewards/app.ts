// Builds a running rewards service from its config: the earnings-topic consumer that posts to the
// ledger, the payout-request hand-off to BullMQ, and the user API. main.ts runs one; tests and
// benchmarks run their own.
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createPool } from '../common/sql.js';
import { createKafka, watchConsumer, withHeartbeats } from '../common/kafka.js';
import { createProducer } from '../common/kafka-producer.js';
import type { Logger } from '../common/log.js';
import type { Stoppable } from '../common/shutdown.js';
import { payoutOutcomes, queues, type PayoutOutcomeJob, type PayoutRequestJob } from '../schemas/queues.js';
import { deadLetter } from '../schemas/records.js';
import { createApi } from './api.js';
import type { RewardsConfig } from './config.js';
import { createEarningsPoster } from './earnings-pg.js';
import { startApiServer } from '../common/http-server.js';
import { createPgLedger } from './ledger-pg.js';
import { createMetrics } from './metrics.js';
import { createPayoutsStore } from './payouts-pg.js';
import { readEarning } from './records.js';
import { createSecretBox } from '../common/secretbox.js';
import { createUsersStore } from './users-pg.js';
import { createWechatOAuth } from './wechat-oauth.js';

const HEARTBEAT_MS = 3_000;
const WEEK_S = 7 * 86_400;

/** Test hook: called at each step of a batch, so a test can kill the process exactly there. */
export type Step = 'posted' | 'committed';

export async function createRewards(config: RewardsConfig, deps: { log: Logger; onStep?(step: Step): void }) {
  const log = deps.log.child({ mod: 'rewards' });
  const metrics = createMetrics();
  // Every statement here finds rows by key. Planned on the statistics of young tables (a new
  // deployment, a burst of new users), Postgres would scan a whole table per batch instead; and
  // costing an index probe as a random disk read (the default 4), it would rather walk a whole
  // index in order than probe it once per key (the balances of a batch's users: README "Plans").
  const pool = createPool({ url: config.DATABASE_URL, max: config.REWARDS_PG_POOL, options: '-c enable_seqscan=off -c random_page_cost=1.1' }, { log });
  const ledger = createPgLedger({ pool, onRetry: metrics.retried });
  const postEarnings = createEarningsPoster({ thresholdFen: config.REWARDS_PAYOUT_THRESHOLD_FEN, currency: config.REWARDS_CURRENCY }, { ledger, onContention: () => metrics.retried('23514') });
  const payouts = createPayoutsStore({ currency: config.REWARDS_CURRENCY }, { ledger, pool });
  const box = createSecretBox(Buffer.from(config.REWARDS_ENCRYPTION_KEY, 'base64'));
  const users = createUsersStore({ currency: config.REWARDS_CURRENCY }, { pool, box });

  // BullMQ needs maxRetriesPerRequest null; Redis must run with maxmemory-policy noeviction.
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue<PayoutRequestJob>(queues.payoutRequests.name, { connection: redis, prefix: config.REWARDS_PAYOUT_QUEUE_PREFIX });
  queue.on('error', (err) => log.warn({ err }, 'queue_error')); // Redis away: BullMQ reconnects
  /** Hands payout requests to the payouts service; the job id is the payout id, so a repeat is a no-op. */
  async function enqueue(payoutIds: string[]): Promise<void> {
    if (payoutIds.length === 0) return;
    await queue.addBulk(payoutIds.map((payoutId) => ({
      name: queues.payoutRequests.jobName, data: { payoutId },
      opts: { jobId: payoutId, removeOnComplete: { age: WEEK_S }, removeOnFail: { age: 4 * WEEK_S } },
    })));
  }
  // A crash between a commit and its hand-off leaves a request behind: hand such requests off again.
  const requeue = config.REWARDS_REQUEUE_INTERVAL_MS > 0 ? setInterval(() => {
    payouts.requested(1_000).then(enqueue).catch((err: unknown) => log.warn({ err }, 'requeue_failed'));
  }, config.REWARDS_REQUEUE_INTERVAL_MS) : undefined;

  // The payouts service's outcomes, applied to the ledger once each. A reversal that arrives before
  // its settle fails the job, so BullMQ retries it after the settle.
  const outcomeConnection = redis.duplicate();
  const outcomeWorker = new Worker<PayoutOutcomeJob>(payoutOutcomes.name, async (job) => {
    const list = job.data.outcomes;
    const results = await payouts.finishMany(list.map((o) => ({ payoutId: o.payoutId, phase: o.outcome })), { by: 'payouts' });
    results.forEach((result, i) => {
      metrics.payoutFinished(list[i]!.outcome, result);
      if (result === 'already_finished' || result === 'not_found') log.error({ ...list[i], result }, 'payout_outcome_conflict');
    });
    if (results.includes('not_yet')) throw new Error('a reversal arrived before its settle');
  }, { connection: outcomeConnection, prefix: config.REWARDS_PAYOUT_QUEUE_PREFIX, concurrency: 4 });
  outcomeWorker.on('failed', (job, err) => log.warn({ err, id: job?.id }, 'payout_outcome_failed'));
  outcomeWorker.on('error', (err) => log.warn({ err }, 'queue_error')); // Redis away: BullMQ reconnects

  const kafka = createKafka({ ...config, clientId: 'rewards' }, { log });
  const producer = createProducer({ ...config, clientId: 'rewards' }, { log });
  await producer.connect();
  const consumer = kafka.consumer({
    groupId: config.REWARDS_GROUP, sessionTimeout: config.REWARDS_SESSION_TIMEOUT_MS, heartbeatInterval: HEARTBEAT_MS, allowAutoTopicCreation: false,
  });
  const membership = watchConsumer(consumer, log);
  await consumer.connect();
  await consumer.subscribe({ topic: config.REWARDS_TOPIC, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: config.REWARDS_PARTITIONS_CONCURRENTLY,
    eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
      await withHeartbeats(heartbeat, { intervalMs: HEARTBEAT_MS, log }, async () => {
        for (let start = 0; start < batch.messages.length; start += config.REWARDS_BATCH_MAX) {
          if (!isRunning() || isStale()) return;
          const messages = batch.messages.slice(start, start + config.REWARDS_BATCH_MAX);
          const read = messages.map((m) => ({ m, r: readEarning(m.value) }));
          const deadLetters = read.flatMap(({ m, r }) => (r.ok ? [] : [deadLetter(m, r.reason, batch)]));
          await producer.send([{ topic: config.REWARDS_DEADLETTER_TOPIC, messages: deadLetters }]);
          const done = metrics.batchTimer();
          const posted = await postEarnings(read.flatMap(({ r }) => (r.ok ? [r.earning] : [])));
          done();
          deps.onStep?.('posted');
          await enqueue(posted.payouts.map((p) => p.payoutId));
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(messages.at(-1)!.offset) + 1n).toString() }]);
          deps.onStep?.('committed');
          metrics.posted(posted.records, posted.replayed);
          metrics.deadLettered(deadLetters.length);
          posted.payouts.forEach((p) => metrics.payoutRequested(p.source));
        }
      });
    },
  });

  const oauth = createWechatOAuth({ baseUrl: config.WECHAT_OAUTH_URL, appid: config.WECHAT_APPID, secret: config.WECHAT_APP_SECRET, timeoutMs: config.WECHAT_TIMEOUT_MS });
  const handle = createApi(
    { tokenSecret: config.REWARDS_TOKEN_SECRET, operatorToken: config.REWARDS_OPERATOR_TOKEN, minWithdrawalFen: config.REWARDS_MIN_WITHDRAWAL_FEN },
    { users, payouts, oauth, now: Date.now, onPayout: (id) => enqueue([id]).catch((err: unknown) => log.warn({ err }, 'payout_handoff_deferred')) },
  );
  let stopping = false;
  const server = await startApiServer({ host: config.REWARDS_HOST, port: config.REWARDS_PORT }, {
    log, handle, observe: metrics.responded, registry: metrics.registry, ready: () => membership.joined && !stopping && redis.status === 'ready',
  });
  log.info({ port: server.port, topic: config.REWARDS_TOPIC, group: config.REWARDS_GROUP }, 'rewards_started');

  // Stopped in reverse: the consumer finishes its batch and leaves the group, the API stops
  // accepting, then the hand-off and the stores close.
  const parts: Stoppable[] = [
    { name: 'postgres', stop: () => pool.end() },
    { name: 'redis', stop: async () => void await redis.quit() },
    { name: 'queue', stop: async () => {
      clearInterval(requeue);
      await queue.close();
    } },
    { name: 'outcomes', stop: async () => {
      await outcomeWorker.close();
      await outcomeConnection.quit();
    } },
    { name: 'producer', stop: () => producer.disconnect() },
    { name: 'http', stop: () => server.stop() },
    { name: 'consumer', stop: async () => {
      stopping = true;
      await consumer.disconnect();
    } },
  ];
  return { port: server.port, parts, metrics, ledger, payouts, users, pool, failed: membership.failed };
}
