// Builds a running aggregator from its config: the consumer of the beacon and confirmation topics,
// the state of the partitions it owns (on local disk, with their changelog in Kafka) and the shared
// state in Redis, ClickHouse, the earnings and dead-letter producer, and the group commit that ties a
// batch's changelog entry, writes and offsets together. main.ts runs one; tests and benchmarks run their own.
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { createFailureTracker } from '../common/consumer-faults.js';
import { PipelineError } from '../common/errors.js';
import { createKafka, watchConsumer, withHeartbeats } from '../common/kafka.js';
import { createProducer } from '../common/kafka-producer.js';
import type { Logger } from '../common/log.js';
import { startOpsServer } from '../common/ops-server.js';
import type { Stoppable } from '../common/shutdown.js';
import { createCampaignSettings } from './campaigns-pg.js';
import type { AggregatorConfig } from './config.js';
import { createGroupCommit } from './group-commit.js';
import { createMetrics } from './metrics.js';
import { processBatch, type BatchOutput, type KafkaMessage } from './process-batch.js';
import { processConfirmations } from './process-confirmations.js';
import { joinRows, rowCount, type Rows } from './rows.js';
import { createRedisState } from './state-redis.js';
import { createPoisonedWriter } from './write-poisoned.js';
import { createClickhouseWarehouse } from './warehouse-clickhouse.js';
import { coPartitionedAssigner } from './assigner.js';
import { createPartitions, type Held } from './partitions.js';
import { createStepState } from './step-state.js';
import { encodeEntry, type Entry, type SourceKind } from './store/changelog.js';
import { readPartitions } from './store/changelog-reader.js';
import type { Value } from './store/partition.js';

const HEARTBEAT_MS = 3_000;
const CLICKHOUSE_TIMEOUT_MS = 60_000;
// A member whose partitions are being revoked finishes the insert it has in flight, then writes
// nothing more (group-commit.ts) and rejoins. The coordinator must wait that long for it before
// handing its partitions on: an insert's timeout, then a retry's longest wait (10 s), a heartbeat
// and a margin.
const REBALANCE_TIMEOUT_MS = CLICKHOUSE_TIMEOUT_MS + 30_000;
const MAINTAIN_MS = 60_000;

/** Consecutive runs of messages of at most `maxBytes` of values (at least one message each). */
function* steps<M extends { value: Buffer | null }>(messages: M[], maxBytes: number): Generator<M[]> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    bytes += messages[i]!.value?.length ?? 0;
    if (bytes >= maxBytes || i === messages.length - 1) {
      yield messages.slice(start, i + 1);
      start = i + 1;
      bytes = 0;
    }
  }
}

/** Test hook: called at each step of a batch, so a test can kill the process exactly there. */
export type Step = 'claimed' | 'logged' | 'inserted' | 'written' | 'committed';

/** A step waiting in the group commit: its output, and its changelog entry until the state holds it. */
interface Item {
  rows: number;
  backlog: boolean;
  output: BatchOutput;
  partition: number;
  entry?: { entry: Entry; values: Map<string, Value> };
  /** The entry went to Kafka (perhaps: a send that failed may have landed) / is applied to the state. */
  sent: boolean;
  applied: boolean;
  held: Held;
}

export async function createAggregator(config: AggregatorConfig, deps: { log: Logger; onStep?(step: Step): void }) {
  const log = deps.log.child({ mod: 'aggregator' });
  const metrics = createMetrics();
  // Consecutive failures of the group write and of each partition's steps (README "Failure semantics").
  const faults = createFailureTracker(
    { service: 'aggregator', stallAfter: config.AGGREGATOR_STALL_AFTER_FAILURES },
    { registry: metrics.registry },
  );
  const campaigns = await createCampaignSettings(
    {
      DATABASE_URL: config.DATABASE_URL,
      refreshMs: config.AGGREGATOR_CAMPAIGN_REFRESH_MS,
      verificationWindowMs: config.AGGREGATOR_VERIFICATION_WINDOW_MS,
    },
    { log },
  );
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3, lazyConnect: true });
  redis.on('error', (err) => log.warn({ err }, 'redis_error')); // ioredis reconnects by itself
  await redis.connect();
  const clickhouse = createClient({
    url: config.CLICKHOUSE_URL,
    database: config.CLICKHOUSE_DATABASE,
    request_timeout: CLICKHOUSE_TIMEOUT_MS,
    log: { level: ClickHouseLogLevel.OFF }, // a failed insert reaches the group commit, which logs and retries it
    keep_alive: { eagerly_destroy_stale_sockets: true }, // a busy event loop must not reuse a socket the server closed
  });
  const warehouse = createClickhouseWarehouse({ clickhouse });
  const shared = createRedisState({ prefix: config.AGGREGATOR_REDIS_PREFIX }, { redis });
  const kafka = createKafka({ ...config, clientId: 'aggregator' }, { log });
  const producer = createProducer({ ...config, clientId: 'aggregator' }, { log });
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();
  const changelog = config.AGGREGATOR_CHANGELOG_TOPIC;
  const partitions = createPartitions(
    {
      dir: config.AGGREGATOR_STATE_DIR,
      windowMs: config.AGGREGATOR_DEDUP_WINDOW_MS,
      sliceMs: config.AGGREGATOR_CLAIMS_SLICE_MS,
      filterBytes: config.AGGREGATOR_CLAIMS_FILTER_BYTES,
    },
    {
      log,
      caughtUp: metrics.caughtUp,
      async readChangelog(partition, from, onRecord) {
        const [read] = await readPartitions(
          { kafka, log },
          changelog,
          [{ partition, offset: BigInt(from) }],
          (_, offset, value) => onRecord(Number(offset), value),
        );
        return Number(read!.next);
      },
      async commits(partition) {
        const topics = await admin.fetchOffsets({
          groupId: config.AGGREGATOR_GROUP,
          topics: [config.AGGREGATOR_TOPIC, config.AGGREGATOR_CONFIRMATIONS_TOPIC],
        });
        const of = (topic: string) =>
          Number(
            topics.find((t) => t.topic === topic)?.partitions.find((x) => x.partition === partition)?.offset ?? -1,
          );
        return { b: of(config.AGGREGATOR_TOPIC), c: of(config.AGGREGATOR_CONFIRMATIONS_TOPIC) };
      },
    },
  );
  metrics.stateSize(partitions.stats);
  const maintenance = setInterval(() => {
    partitions.maintain(Date.now()).catch((err: unknown) => log.warn({ err }, 'state_maintenance_failed'));
  }, MAINTAIN_MS).unref();

  /**
   * Kafka holds the steps' changelog entries before anything else of theirs is written, then each is
   * applied to its partition, whose next step may then go on (README "State"). A send that fails may
   * have landed: the group write retries it (a repeated entry is skipped by its sequence number).
   */
  async function persist(items: Item[]): Promise<void> {
    const pending = items.filter((i) => i.entry && !i.applied);
    if (pending.length === 0) return;
    for (const i of pending) i.sent = true;
    const messages = pending.map((i) => ({ key: null, partition: i.partition, value: encodeEntry(i.entry!.entry) }));
    // No record is at fault when the changelog refuses a write (a topic too small for an entry, say):
    // retried, never poison, and the stall shows it until an operator fixes it.
    const sent = await producer
      .send([{ topic: changelog, messages }], { compression: 'snappy' })
      .catch((err: unknown) => {
        throw new PipelineError('changelog_write_failed', `the changelog refused a write: ${(err as Error).message}`, {
          retriable: true,
          cause: err,
        });
      });
    deps.onStep?.('logged');
    for (const i of pending) {
      const offset = Number(sent.find((s) => s.topic === changelog && s.partition === i.partition)?.baseOffset ?? -1n);
      i.applied = true;
      try {
        i.held.part.apply(i.entry!.entry, i.entry!.values, offset);
        i.held.release();
      } catch (err) {
        log.error({ err, partition: i.partition }, 'state_apply_failed'); // the changelog has it: caught up before the next step
        i.held.release(true);
      }
    }
  }

  async function write(items: Item[], attempt: number): Promise<void> {
    await persist(items);
    const outputs = items.map((i) => i.output);
    let parts: Rows[] = outputs;
    if (attempt > 0) {
      // The failed attempt may have landed in part, or landed and then lost its answer.
      metrics.writeFailed();
      parts = [await warehouse.withoutLanded(joinRows(outputs))];
    }
    const topicMessages = [
      { topic: config.AGGREGATOR_EARNINGS_TOPIC, messages: outputs.flatMap((o) => o.earnings) },
      { topic: config.AGGREGATOR_DEADLETTER_TOPIC, messages: outputs.flatMap((o) => o.deadLetters) },
    ];
    const done = metrics.writeTimer();
    await warehouse.insert(parts);
    deps.onStep?.('inserted');
    await producer.send(topicMessages, { compression: 'snappy' });
    log.debug(
      { batches: outputs.length, rows: parts.reduce((n, p) => n + rowCount(p), 0), seconds: done() },
      'group_written',
    );
  }
  const writePoisoned = createPoisonedWriter(
    { earningsTopic: config.AGGREGATOR_EARNINGS_TOPIC, deadLetterTopic: config.AGGREGATOR_DEADLETTER_TOPIC },
    {
      warehouse,
      send: (topicMessages) => producer.send(topicMessages, { compression: 'snappy' }),
      log,
    },
  );

  // Set when a heartbeat says this member's partitions are being revoked, cleared when it is assigned
  // partitions again: meanwhile the group commit writes nothing (README "Rebalance").
  let revoked: Error | undefined;
  let stopping = false;
  const group = createGroupCommit<Item>(
    {
      intervalMs: config.AGGREGATOR_FLUSH_INTERVAL_MS,
      lingerMs: config.AGGREGATOR_FLUSH_LINGER_MS,
      maxRows: config.AGGREGATOR_FLUSH_MAX_ROWS,
    },
    {
      write,
      poisoned: (item, attempt) => writePoisoned(item.output, attempt),
      failed: (err) => void faults.failed('group', err),
      written: () => faults.succeeded('group'),
      revoked: () => revoked,
      log,
      now: Date.now,
    },
  );

  const consumer = kafka.consumer({
    groupId: config.AGGREGATOR_GROUP,
    sessionTimeout: config.AGGREGATOR_SESSION_TIMEOUT_MS,
    heartbeatInterval: HEARTBEAT_MS,
    allowAutoTopicCreation: false,
    rebalanceTimeout: REBALANCE_TIMEOUT_MS,
    maxBytesPerPartition: config.AGGREGATOR_FETCH_MAX_BYTES_PER_PARTITION,
    maxBytes: config.AGGREGATOR_FETCH_MAX_BYTES,
    partitionAssigners: [coPartitionedAssigner], // partition p of both topics to one member: their users' state is one
  });
  const membership = watchConsumer(consumer, log);
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    revoked = undefined;
    faults.retain(e.payload.memberAssignment); // a partition moved away no longer stalls this process
    partitions.assigned(Object.values(e.payload.memberAssignment).flat());
  });
  await consumer.connect();
  // One group for both topics: a rewardable event and its confirmation, keyed by the same user, meet
  // in their partition's state (pairing-local.ts).
  await consumer.subscribe({
    topics: [config.AGGREGATOR_TOPIC, config.AGGREGATOR_CONFIRMATIONS_TOPIC],
    fromBeginning: true,
  });

  const batchConfig = {
    maxClicksPerDeviceHour: config.AGGREGATOR_MAX_CLICKS_PER_DEVICE_HOUR,
    pairingMarginMs: config.AGGREGATOR_PAIRING_MARGIN_MS,
  };
  const confirmationsConfig = {
    pairingMarginMs: config.AGGREGATOR_PAIRING_MARGIN_MS,
    defaultWindowMs: config.AGGREGATOR_VERIFICATION_WINDOW_MS,
  };
  /**
   * One step of a partition: decided on its partition's state and submitted to the group commit.
   * Returns once submitted, with the rest: written with its group, then committed once the step
   * before it (`prior`) is, so an offset never passes a step that failed.
   */
  async function step(
    batch: { topic: string; partition: number },
    messages: KafkaMessage[],
    backlog: boolean,
    prior: Promise<void>,
  ): Promise<{ completed: Promise<void> }> {
    const kind: SourceKind = batch.topic === config.AGGREGATOR_CONFIRMATIONS_TOPIC ? 'c' : 'b';
    const source = { topic: batch.topic, partition: batch.partition, messages };
    const held = await partitions.acquire(batch.partition);
    let item: Item;
    let output: BatchOutput;
    try {
      const view = held.part.view(Date.now());
      const ports = {
        state: createStepState(view, shared, { clickTtlMs: config.AGGREGATOR_DEDUP_WINDOW_MS }),
        withoutLanded: warehouse.withoutLanded,
        settings: campaigns.settings,
      };
      output =
        kind === 'c'
          ? await processConfirmations(confirmationsConfig, ports, source)
          : await processBatch(batchConfig, ports, source);
      deps.onStep?.('claimed');
      // Records at or before the last decided offset are a redelivery: their entry was applied before.
      const first = Math.max(Number(messages[0]!.offset), view.decidedThrough(kind) + 1);
      const last = Number(messages.at(-1)!.offset);
      item = { rows: rowCount(output), output, backlog, partition: batch.partition, sent: false, applied: false, held };
      if (first <= last) item.entry = view.entry({ kind, partition: batch.partition, first, last });
      else held.release();
    } catch (err) {
      held.release();
      throw err;
    }
    const written = group.submit(item).catch((err: unknown) => {
      if (!item.applied) held.release(item.sent); // a sent entry may be in the changelog: catch up first
      throw err;
    });
    const completed = (async () => {
      await written;
      deps.onStep?.('written');
      await prior;
      // If the partition moved meanwhile, this commit fails and its new owner redelivers the
      // records, which its state recognises as a redelivery.
      const next = BigInt(messages.at(-1)!.offset) + 1n;
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next.toString() }]);
      held.part.committed(kind, Number(next));
      deps.onStep?.('committed');
      metrics.batch(kind === 'c' ? 'confirmations' : 'events', output);
      faults.poisoned(output.counts.deadLettered);
    })();
    completed.catch(() => {}); // awaited by the batch; a later step's commit waits on it
    return { completed };
  }

  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: config.AGGREGATOR_PARTITIONS_CONCURRENTLY,
    eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
      // Keep the group membership alive while a step works or waits (ClickHouse may be down for
      // minutes); a fetch of a long backlog is worked through in steps of bounded size, each
      // committed on its own, so memory stays bounded and no step outlives the session. A step is
      // decided while the one before it is being written (its entry applied, its insert in flight);
      // the batch ends once all of its steps are written, so a rebalance never finds one in flight.
      await withHeartbeats(
        heartbeat,
        { intervalMs: HEARTBEAT_MS, log, onRevoked: (err) => void (revoked = err) },
        async () => {
          const all = [...steps(batch.messages, config.AGGREGATOR_STEP_BYTES)];
          const key = `${batch.topic}:${batch.partition}`;
          // More records already wait in the partition: its steps go out without lingering.
          const behind = BigInt(batch.highWatermark) > BigInt(batch.lastOffset()) + 1n;
          let prior: Promise<void> = Promise.resolve();
          try {
            for (const [i, messages] of all.entries()) {
              if (!isRunning() || isStale() || stopping) break;
              prior = (await step(batch, messages, behind || i < all.length - 1, prior)).completed;
            }
            await prior;
            faults.succeeded(key);
          } catch (err) {
            await prior.catch(() => {}); // whatever was submitted ends before kafkajs retries the batch
            const fault = faults.failed(key, err);
            log.warn(
              { err, kind: fault.kind, code: fault.code, topic: batch.topic, partition: batch.partition },
              'beacon_step_failed',
            );
            throw err; // kafkajs retries the batch with backoff
          }
        },
      );
    },
  });
  const ops = await startOpsServer(
    { host: config.AGGREGATOR_HOST, port: config.AGGREGATOR_PORT },
    {
      registry: metrics.registry,
      ready: () => membership.joined && !stopping && redis.status === 'ready' && !faults.stalled,
    },
  );
  log.info(
    {
      port: ops.port,
      topic: config.AGGREGATOR_TOPIC,
      confirmations: config.AGGREGATOR_CONFIRMATIONS_TOPIC,
      group: config.AGGREGATOR_GROUP,
    },
    'aggregator_started',
  );

  // Stopped in reverse: the consumer finishes its batches (whose writes complete) and leaves the
  // group, then the writers and stores close.
  const parts: Stoppable[] = [
    { name: 'ops', stop: () => ops.stop() },
    { name: 'campaigns', stop: () => campaigns.stop() },
    { name: 'redis', stop: async () => void (await redis.quit()) },
    {
      name: 'state',
      stop: async () => {
        clearInterval(maintenance);
        await partitions.close();
      },
    },
    { name: 'admin', stop: () => admin.disconnect() },
    { name: 'clickhouse', stop: () => clickhouse.close() },
    { name: 'producer', stop: () => producer.disconnect() },
    { name: 'group', stop: async () => group.stop() },
    {
      name: 'consumer',
      stop: async () => {
        stopping = true;
        await consumer.disconnect();
      },
    },
  ];
  return { port: ops.port, parts, metrics, failed: membership.failed };
}
