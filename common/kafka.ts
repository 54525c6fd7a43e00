// The kafkajs client factory (consumers and admin; producing is kafka-producer.ts): one place for
// client id, TLS and SASL (kafka-security.ts), retry policy, routing kafkajs logs to pino, and the
// snappy codec (kafkajs ships only gzip); and a consumer's group membership.
import kafkajs, { Kafka, logLevel, type Admin, type Consumer, type LogEntry, type SASLOptions } from 'kafkajs';
import { compressSync, uncompressSync } from 'snappy';
import { kafkaSecurity, type KafkaConnection } from './kafka-security.js';
import type { Logger } from './log.js';

// Snappy through the native library. Our producer writes raw snappy blocks; Java producers write the
// xerial framing (an 8-byte magic, two version words, then length-prefixed blocks), which consumers
// must read too.
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
function uncompress(buffer: Buffer): Buffer {
  if (!buffer.subarray(0, 8).equals(XERIAL_MAGIC)) return uncompressSync(buffer) as Buffer;
  const blocks: Buffer[] = [];
  for (let at = 16; at + 4 <= buffer.length;) {
    const size = buffer.readUInt32BE(at);
    blocks.push(uncompressSync(buffer.subarray(at + 4, at + 4 + size)) as Buffer);
    at += 4 + size;
  }
  return Buffer.concat(blocks);
}
export const snappyCodec = () => ({
  compress: async (encoder: { buffer: Buffer }) => compressSync(encoder.buffer),
  decompress: async (buffer: Buffer) => uncompress(buffer),
});
kafkajs.CompressionCodecs[kafkajs.CompressionTypes.Snappy] = snappyCodec;

const levels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

// What a heartbeat answers when this member's partitions are being taken away (kafkajs treats the
// first three as a rebalance; an unknown member has lost them already).
const REVOKING = new Set([
  'REBALANCE_IN_PROGRESS',
  'NOT_COORDINATOR_FOR_GROUP',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
]);

/**
 * Runs `work` (an eachBatch's) while heartbeating the group every `intervalMs`: a batch that works
 * or waits longer than the session would otherwise get its member thrown out and redelivered.
 * `onRevoked` hears of a heartbeat answer that the member's partitions are being taken away.
 */
export async function withHeartbeats<T>(
  heartbeat: () => Promise<void>,
  opts: { intervalMs: number; log: Logger; onRevoked?(err: Error): void },
  work: () => Promise<T>,
): Promise<T> {
  const beat = setInterval(
    () =>
      void heartbeat().catch((err: unknown) => {
        opts.log.debug({ err }, 'heartbeat_failed');
        if (REVOKING.has((err as { type?: string }).type ?? '')) opts.onRevoked?.(err as Error);
      }),
    opts.intervalMs,
  );
  try {
    return await work();
  } finally {
    clearInterval(beat);
  }
}

export function createKafka(config: KafkaConnection & { clientId: string }, deps: { log: Logger }): Kafka {
  const log = deps.log.child({ mod: 'kafkajs' });
  const { ssl, sasl } = kafkaSecurity(config, log);
  return new Kafka({
    clientId: config.clientId,
    brokers: config.KAFKA_BROKERS,
    ...(ssl && { ssl }),
    ...(sasl && { sasl: sasl as SASLOptions }), // kafkajs's type is a union per mechanism
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 100, retries: 8, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, label, log: entry }: LogEntry) => {
        const { message, ...fields } = entry;
        log[levels[level] ?? 'info']({ kafka: label, ...fields }, message);
      },
  });
}

/**
 * A consumer's membership: `joined` while it holds its group membership (for readiness), and
 * `failed`, which resolves when it crashed and kafkajs will not restart it (a non-retriable error,
 * such as "the coordinator is not aware of this member" after a broker restart): the process
 * should then stop, so that its supervisor starts a fresh one.
 */
export function watchConsumer(consumer: Consumer, log: Logger) {
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joined = true;
    log.info({ assigned: e.payload.memberAssignment }, 'partitions_assigned');
  });
  const failed = new Promise<unknown>((resolve) =>
    consumer.on(consumer.events.CRASH, (e) => {
      joined = false;
      log.error({ err: e.payload.error, restart: e.payload.restart }, 'consumer_crashed');
      if (!e.payload.restart) resolve(e.payload.error);
    }),
  );
  return {
    get joined() {
      return joined;
    },
    failed,
  };
}

type TopicEnds = Awaited<ReturnType<Admin['fetchTopicOffsets']>>;
/**
 * How many records of `topic` consumer group `group` has not committed yet. `ends`, the topic's end
 * offsets, may be given when they cannot change (a preloaded topic): a poll then costs half.
 */
export async function groupLag(admin: Admin, group: string, topic: string, ends?: TopicEnds): Promise<number> {
  ends ??= await admin.fetchTopicOffsets(topic);
  const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return ends.reduce((sum, p) => {
    const at = Number(committed?.partitions.find((c) => c.partition === p.partition)?.offset ?? -1);
    return sum + Number(p.high) - Math.max(at, 0);
  }, 0);
}

/** Runs `fn` with a connected admin client. */
export async function withAdmin<T>(kafka: Kafka, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}
