// Builds a running payouts service from its config: the BullMQ workers (taking requests up, forming,
// submitting and querying batches, the sweep; top-ups' refund requests and sweep), the WeChat Pay
// client of the configured product, and the HTTP API. main.ts runs one; tests and benchmarks run their own.
import { createHash } from 'node:crypto';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { createPool } from '../common/sql.js';
import { createFailureTracker, trackJob } from '../common/consumer-faults.js';
import { PipelineError } from '../common/errors.js';
import { startApiServer } from '../common/http-server.js';
import { startOpsServer } from '../common/ops-server.js';
import type { Logger } from '../common/log.js';
import { createSecretBox } from '../common/secretbox.js';
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
import { createPayoutsApi } from './api.js';
import { caReplacesRoots, providerQps, type PayoutsConfig } from './config.js';
import { createFraudSignals } from './fraud-signals.js';
import { createPayoutFlow, type FlowQueues, type FlowStep } from './flow.js';
import { createMetrics } from './metrics.js';
import type { BatchParams, Provider } from './providers/provider.js';
import { createV2Provider } from './providers/v2.js';
import { createV3BatchProvider } from './providers/v3-batch.js';
import { createV3BillProvider } from './providers/v3-bill.js';
import { chinaYesterday, createReconciler } from './reconcile-pg.js';
import { createPayoutsStore } from './store-pg.js';
import { createTokenSecrets } from '../common/token-secrets-pg.js';
import type { TopupStep } from './topups/flow.js';
import { createTopups } from './topups/service.js';
import { loadCredentials, type Credentials } from './wechat/credentials.js';
import { createTransport, type Transport } from './wechat/transport.js';
import { createV2Client } from './wechat/v2-client.js';
import { createV3Client } from './wechat/v3-client.js';

const WORK_QUEUE = 'payouts-work';
const WEEK_S = 7 * 86_400;
const retried = { attempts: 12, backoff: { type: 'exponential', delay: 1_000 } };
/** A job whose worker died is taken up again within ~15 s (running jobs renew their lock every 5 s). */
const STALLED = { lockDuration: 10_000, stalledInterval: 5_000 };

interface WorkJob {
  batchNo?: string;
  recheck?: string[];
  only?: string[];
  day?: string;
}

export function createProvider(
  config: PayoutsConfig,
  creds: Credentials,
  deps: { transport: Transport; nowS(): number },
) {
  const v3 = createV3Client(
    {
      mchid: config.WECHATPAY_MCHID,
      serial: creds.serial,
      privateKey: creds.privateKey,
      apiV3Key: config.WECHATPAY_API_V3_KEY,
      platformKeys: creds.platformKeys,
      encryptSerial: creds.encryptSerial,
    },
    deps,
  );
  const p = { appid: config.WECHATPAY_APPID, clientIp: '127.0.0.1', maxBatch: config.PAYOUTS_BATCH_MAX };
  const provider: Provider =
    config.PAYOUTS_API === 'v3_batch'
      ? createV3BatchProvider(p, v3)
      : config.PAYOUTS_API === 'v3_bill'
        ? createV3BillProvider(p, v3)
        : createV2Provider(
            p,
            createV2Client(
              {
                mchid: config.WECHATPAY_MCHID,
                appid: config.WECHATPAY_APPID,
                apiKey: config.WECHATPAY_API_V2_KEY,
                signType: config.WECHATPAY_V2_SIGN_TYPE,
                transferSignType: config.WECHATPAY_V2_TRANSFER_SIGN_TYPE,
              },
              deps,
            ),
          );
  return { provider, v3 };
}

/** The request parameters new batches are formed with (stored with each batch). */
export const batchParams = (config: PayoutsConfig): BatchParams => ({
  remark: config.PAYOUTS_REMARK,
  sceneId: config.PAYOUTS_SCENE_ID,
  sceneReport: config.PAYOUTS_SCENE_REPORT_INFOS[config.PAYOUTS_SCENE_ID] ?? [],
  ...(config.PAYOUTS_NOTIFY_URL ? { notifyUrl: config.PAYOUTS_NOTIFY_URL } : {}),
});

/** What both the service and the operator commands need: stores, the provider, the queues. */
export function createPayoutsCore(config: PayoutsConfig, deps: { log: Logger; onStep?(step: TopupStep): void }) {
  const metrics = createMetrics();
  const pool = createPool({ url: config.DATABASE_URL, max: 8 }, deps);
  const clickhouse = createClient({
    url: config.CLICKHOUSE_URL,
    database: config.CLICKHOUSE_DATABASE,
    request_timeout: 10_000,
    log: { level: ClickHouseLogLevel.OFF },
  });
  const box = createSecretBox(Buffer.from(config.REWARDS_ENCRYPTION_KEY, 'base64'));
  const creds = loadCredentials({
    certFile: config.WECHATPAY_CERT_FILE,
    keyFile: config.WECHATPAY_KEY_FILE,
    platformCertFiles: config.WECHATPAY_PLATFORM_CERT_FILES,
    ...(config.WECHATPAY_P12_FILE
      ? { p12: { file: config.WECHATPAY_P12_FILE, passphrase: config.WECHATPAY_MCHID } }
      : {}),
    publicKeyFile: config.WECHATPAY_PUBLIC_KEY_FILE,
    publicKeyId: config.WECHATPAY_PUBLIC_KEY_ID,
    caFile: config.WECHATPAY_CA_FILE,
    caReplacesRoots: caReplacesRoots(config),
  });
  const transport = createTransport(
    {
      baseUrl: config.WECHATPAY_BASE_URL,
      timeoutMs: config.WECHATPAY_TIMEOUT_MS,
      tls: creds.tls,
      callsPerSecond: providerQps(config),
    },
    { observe: metrics.called },
  );
  const { provider, v3 } = createProvider(config, creds, { transport, nowS: () => Math.floor(Date.now() / 1000) });
  const store = createPayoutsStore(
    {
      api: provider.api,
      maxBatch: provider.maxBatch,
      maxAgeMs: config.PAYOUTS_BATCH_MAX_AGE_MS,
      params: batchParams(config),
      polls: {
        pollMs: config.PAYOUTS_POLL_MS,
        waitPollMs: config.PAYOUTS_BILL_WAIT_POLL_MS,
        packageMaxAgeMs: config.PAYOUTS_PACKAGE_MAX_AGE_MS,
      },
      confirmMode: config.PAYOUTS_BILL_CONFIRM_MODE,
      risk: {
        maxDailyCount: config.PAYOUTS_MAX_DAILY_COUNT,
        maxDailyFen: config.PAYOUTS_MAX_DAILY_FEN,
        newLinkHoldMs: config.PAYOUTS_NEW_LINK_HOLD_MS,
        maxPerHour: config.PAYOUTS_MAX_PER_HOUR,
        realNameFen: config.PAYOUTS_REAL_NAME_FEN,
      },
    },
    {
      pool,
      box,
      fraudReasons: createFraudSignals({ lookbackDays: config.PAYOUTS_FRAUD_LOOKBACK_DAYS }, { clickhouse, pool }),
      now: Date.now,
    },
  );

  // BullMQ needs maxRetriesPerRequest null; Redis must run with maxmemory-policy noeviction.
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  const prefix = config.PAYOUTS_QUEUE_PREFIX;
  const work = new Queue<WorkJob>(WORK_QUEUE, { connection: redis, prefix });
  const outcomes = new Queue<PayoutOutcomeJob>(payoutOutcomes.name, { connection: redis, prefix });
  const funding = new Queue<FundingOutcomeJob>(fundingOutcomes.name, { connection: redis, prefix });
  for (const q of [work, outcomes, funding]) q.on('error', (err) => deps.log.warn({ err }, 'queue_error')); // Redis away: BullMQ reconnects
  const queued: FlowQueues = {
    // One submit job per batch at a time: the sweep's re-add is ignored while one waits or runs (and a
    // crashed run comes back as a stalled job). Removed when done, so a batch still formed can get another.
    submit: async (batchNo) =>
      void (await work.add(
        'submit',
        { batchNo },
        { jobId: `submit-${batchNo}`, ...retried, removeOnComplete: true, removeOnFail: true },
      )),
    poll: async (batchNo, opts) =>
      void (await work.add(
        'poll',
        { batchNo, recheck: opts.recheck, only: opts.only },
        { jobId: opts.id, ...retried, removeOnComplete: { age: 3_600 }, removeOnFail: { age: WEEK_S } },
      )),
    async outcomes(list) {
      if (list.length === 0) return;
      const jobId = createHash('sha256')
        .update(list.map((o) => `${o.payoutId}:${o.outcome}`).join(','))
        .digest('hex');
      await outcomes.add(
        payoutOutcomes.jobName,
        { outcomes: list },
        {
          jobId,
          attempts: 50,
          backoff: { type: 'exponential', delay: 1_000 },
          removeOnComplete: { age: WEEK_S },
          removeOnFail: { age: 4 * WEEK_S },
        },
      );
    },
  };
  // Money in: a payment or a refund's outcome goes to rewards as one job, `<kind>-<number>`, so a repeat enqueues once.
  const topups = createTopups(config, {
    pool,
    v3,
    transport,
    metrics,
    log: deps.log,
    onStep: deps.onStep,
    funding: async (job) =>
      void (await funding.add(fundingOutcomes.jobName, job, {
        jobId: `${job.kind}-${job.kind === 'credit' ? job.outTradeNo : job.outRefundNo}`,
        attempts: 50,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: { age: WEEK_S },
        removeOnFail: { age: 4 * WEEK_S },
      })),
  });
  const reconciler = createReconciler({
    pool,
    provider,
    store,
    queues: queued,
    metrics,
    payIn: topups.payIn,
    recheckOrder: topups.flow.query,
    recheckRefund: topups.flow.pollRefund,
  });
  /** With no platform certificate or public key configured, the certificates are downloaded (and refreshed). */
  const downloadsCertificates = creds.platformKeys.size === 0;
  return {
    metrics,
    pool,
    store,
    provider,
    v3,
    redis,
    work,
    queued,
    reconciler,
    topups,
    ready: async () => void (downloadsCertificates && (await v3.refreshCertificates())),
    /** Stops in reverse order of need: queues, then the connections behind them. */
    parts: [
      { name: 'postgres', stop: () => pool.end() },
      { name: 'clickhouse', stop: () => clickhouse.close() },
      { name: 'redis', stop: async () => void (await redis.quit()) },
      {
        name: 'queues',
        stop: async () => {
          await Promise.all([work.close(), outcomes.close(), funding.close()]);
          transport.close();
        },
      },
    ] satisfies Stoppable[],
  };
}

export async function createPayouts(
  config: PayoutsConfig,
  deps: { log: Logger; onStep?(step: FlowStep | TopupStep): void },
) {
  const log = deps.log.child({ mod: 'payouts' });
  const {
    metrics,
    pool,
    store,
    provider,
    v3,
    redis,
    work,
    queued,
    reconciler,
    topups,
    ready,
    parts: core,
  } = createPayoutsCore(config, { log, onStep: deps.onStep });
  await ready();
  const tokenSecrets = await createTokenSecrets(
    { DATABASE_URL: config.DATABASE_URL, refreshMs: config.REWARDS_TOKEN_SECRETS_REFRESH_MS },
    { log },
  );
  // Platform certificates last five years and overlap when replaced: a daily refresh picks up a new one.
  const refresh = setInterval(
    () => ready().catch((err: unknown) => log.warn({ err }, 'certificate_refresh_failed')),
    86_400_000,
  );
  const flow = createPayoutFlow(
    { pollMs: config.PAYOUTS_POLL_MS, sweepIdleMs: config.PAYOUTS_SWEEP_MS * 2 },
    { store, provider, queues: queued, metrics, log, onStep: deps.onStep },
  );
  await work.upsertJobScheduler(
    'form-batches',
    { every: config.PAYOUTS_TICK_MS },
    { name: 'form', data: {}, opts: { removeOnComplete: true, removeOnFail: 100 } },
  );
  // The day's bill is made at 09:00 China time the next day; fetch it after 10:00.
  await work.upsertJobScheduler(
    'reconcile',
    { pattern: '30 10 * * *', tz: 'Asia/Shanghai' },
    { name: 'reconcile', data: {}, opts: { ...retried, removeOnComplete: 30, removeOnFail: 100 } },
  );
  await work.upsertJobScheduler(
    'sweep',
    { every: config.PAYOUTS_SWEEP_MS },
    { name: 'sweep', data: {}, opts: { removeOnComplete: true, removeOnFail: 100 } },
  );
  await work.upsertJobScheduler(
    'topup-sweep',
    { every: config.PAYOUTS_SWEEP_MS },
    { name: 'topup-sweep', data: {}, opts: { removeOnComplete: true, removeOnFail: 100 } },
  );

  // Each worker blocks on its own connection; they are closed with the workers.
  const connections = [redis.duplicate(), redis.duplicate(), redis.duplicate()] as const;
  const prefix = config.PAYOUTS_QUEUE_PREFIX;
  // A job that fails with poison goes to the failed set with its reason, never retried; a retriable
  // fault keeps its backoff, and a kind of job that keeps failing shows in /readyz and a metric.
  const faults = createFailureTracker(
    { service: 'payouts', stallAfter: config.PAYOUTS_STALL_AFTER_FAILURES },
    { registry: metrics.registry },
  );
  const scheduled = new Set(['form', 'sweep', 'reconcile', 'topup-sweep']); // no record of their own to set aside
  const tracked =
    <D, R>(queue: string, run: (job: Job<D>) => Promise<R>) =>
    (job: Job<D>) =>
      trackJob(
        faults,
        `${queue}/${job.name}`,
        () => run(job),
        (reason) => new UnrecoverableError(reason),
        { scheduled: scheduled.has(job.name) },
      );
  const intake = new Worker<PayoutRequestJob>(
    queues.payoutRequests.name,
    tracked(queues.payoutRequests.name, (job: Job<PayoutRequestJob>) => store.accept(job.data.payoutId)),
    { connection: connections[0], prefix, concurrency: 16 },
  );
  const worker = new Worker<WorkJob>(
    WORK_QUEUE,
    tracked(WORK_QUEUE, async (job: Job<WorkJob>) => {
      if (job.name === 'form') return flow.form();
      if (job.name === 'sweep') return flow.sweep();
      if (job.name === 'topup-sweep') return topups.flow.sweep();
      if (job.name === 'submit') return flow.submit(job.data.batchNo!);
      if (job.name === 'poll') return flow.poll(job.data.batchNo!, job.data.recheck, job.data.only);
      if (job.name === 'reconcile')
        return void log.info(await reconciler.run(job.data.day ?? chinaYesterday(Date.now())), 'reconciliation_done');
      throw new PipelineError('unknown_job', `unknown job ${job.name}`, { retriable: false });
    }),
    { connection: connections[1], prefix, concurrency: 4, ...STALLED },
  );
  // A campaign refund rewards has held: split over the campaign's paid orders and refunded at WeChat (job id = refund_id).
  const refunds = new Worker<RefundRequestJob>(
    refundRequests.name,
    tracked(refundRequests.name, (job: Job<RefundRequestJob>) => topups.flow.intakeRefund(job.data.refundId)),
    { connection: connections[2], prefix, concurrency: 4, ...STALLED },
  );
  for (const w of [intake, worker, refunds])
    w.on('failed', (job, err) =>
      log.warn({ err, job: job?.name, id: job?.id, attempt: job?.attemptsMade }, 'payout_job_failed'),
    );
  for (const w of [intake, worker, refunds]) w.on('error', (err) => log.warn({ err }, 'queue_error')); // Redis away: BullMQ reconnects

  const handle = createPayoutsApi(
    {
      platformTokenSecret: config.REWARDS_TOKEN_SECRET,
      operatorToken: config.PAYOUTS_OPERATOR_TOKEN,
      tokenMaxTtlS: config.REWARDS_TOKEN_MAX_TTL_S,
      apiV2Key: config.WECHATPAY_API_V2_KEY,
      v2SignType: config.WECHATPAY_V2_SIGN_TYPE,
      mchId: config.WECHATPAY_MCHID,
      appId: config.WECHATPAY_APPID,
    },
    {
      store,
      v3,
      queues: queued,
      callback: metrics.callback,
      now: Date.now,
      appSecrets: tokenSecrets.appSecrets,
      topups: { routes: topups.routes, notify: topups.notify },
    },
  );
  let stopping = false;
  // The public port's /readyz says whether the API can serve (WeChat's callbacks must keep arriving
  // through a WeChat outage); the ops port's also says whether a kind of job keeps failing.
  const isReady = () => !stopping && redis.status === 'ready' && worker.isRunning();
  const opsReady = () => isReady() && !faults.stalled;
  const limits = {
    requestTimeoutMs: config.PAYOUTS_HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: config.PAYOUTS_HTTP_KEEPALIVE_TIMEOUT_MS,
    idleTimeoutMs: config.PAYOUTS_HTTP_IDLE_TIMEOUT_MS,
    maxConnections: config.PAYOUTS_HTTP_MAX_CONNECTIONS,
  };
  const server = await startApiServer(
    { host: config.PAYOUTS_HOST, port: config.PAYOUTS_PORT, limits },
    { log, handle, observe: metrics.responded, ready: isReady },
  );
  // /metrics on a listener of its own (loopback by default), never on the public port WeChat Pay calls back.
  const ops = await startOpsServer(
    { host: config.PAYOUTS_OPS_HOST, port: config.PAYOUTS_OPS_PORT },
    { registry: metrics.registry, ready: opsReady },
  );
  log.info(
    { port: server.port, opsPort: ops.port, api: provider.api, baseUrl: config.WECHATPAY_BASE_URL },
    'payouts_started',
  );

  const parts: Stoppable[] = [
    { name: 'ops', stop: () => ops.stop() },
    ...core,
    { name: 'token_secrets', stop: () => tokenSecrets.stop() },
    {
      name: 'workers',
      stop: async () => {
        stopping = true;
        clearInterval(refresh);
        await Promise.all([intake.close(), worker.close(), refunds.close()]);
        await Promise.all(connections.map((c) => c.quit()));
      },
    },
    { name: 'http', stop: () => server.stop() },
  ];
  return { port: server.port, opsPort: ops.port, parts, metrics, store, flow, pool, provider, reconciler, topups };
}
