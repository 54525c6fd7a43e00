// The idempotent producer every service writes to Kafka with: acks=all, one send at a time, keys
// partitioned as the Java client does. A send that fails with a retriable error is resent with the
// same producer id and sequence numbers until its delivery timeout, so the broker drops what it had
// already written. A send that still fails gives up that producer id: the next send starts a new one,
// so no later batch can be taken for a duplicate of a batch whose fate is unknown. It speaks the wire
// protocol itself (kafka-wire.ts), TLS and SASL included (kafka-security.ts), because kafkajs's
// producer costs three times its CPU per record (`npm run bench:producer`; README, Kafka clients).
// Consumers and admin stay on kafkajs.
import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { PipelineError } from './errors.js';
import {
  apiKeys,
  DUPLICATE_SEQUENCE,
  frame,
  initProducerIdRequest,
  kafkaFault,
  metadataRequest,
  partitionOf,
  produceRequest,
  Reader,
  readApiVersions,
  readInitProducerId,
  readMetadata,
  readProduce,
  readSaslAuthenticate,
  readSaslHandshake,
  recordBatch,
  saslAuthenticateRequest,
  saslHandshakeRequest,
  type Compression,
  type PartitionData,
  type WireRecord,
  type Writer,
} from './kafka-wire.js';
import { kafkaSecurity, saslAuthenticate, type KafkaConnection, type KafkaSecurity } from './kafka-security.js';
import type { Logger } from './log.js';

export type { Compression } from './kafka-wire.js';
export interface Message {
  key: string | Buffer | null;
  value: Buffer | Uint8Array | string;
  headers?: Record<string, string>;
  /** Overrides the key's partition (0 <= partition < the topic's count). */
  partition?: number;
}
export interface TopicMessages {
  topic: string;
  messages: Message[];
}
/** Where a send wrote one partition's batch: its first record's offset (-1n when the broker named none). */
export interface Written {
  topic: string;
  partition: number;
  baseOffset: bigint;
}

const METADATA_MAX_AGE_MS = 300_000;
const CONNECT_TIMEOUT_MS = 3_000;

/** What this producer speaks; a broker that serves another range of one of these is refused at connect. */
const speaks: [name: string, key: number, version: number][] = [
  ['Metadata', apiKeys.metadata, 7],
  ['InitProducerId', apiKeys.initProducerId, 1],
  ['Produce', apiKeys.produce, 7],
];
const speaksSasl: typeof speaks = [
  ['SaslHandshake', apiKeys.saslHandshake, 1],
  ['SaslAuthenticate', apiKeys.saslAuthenticate, 1],
];
/** Certificate failures, ours of the broker's or the broker's of ours: wrong settings, which no retry mends. */
const UNTRUSTED = /CERT|SIGNATURE|ISSUER|ALTNAME/;

/**
 * One broker connection: TLS when configured; an opening that checks the broker's API versions and
 * authenticates with SASL; then framed requests, matched to their answers by correlation id.
 */
function createConnection(address: string, clientId: string, security: KafkaSecurity, openingTimeoutMs: number) {
  const host = address.slice(0, address.lastIndexOf(':'));
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  const waiting = new Map<number, { resolve(r: Reader): void; reject(e: Error): void }>();
  type Live = { socket: Socket; ready: Promise<void>; drop(err: Error): void };
  let live: Live | undefined;
  let inbox: Buffer = Buffer.alloc(0);
  let nextId = 0;

  function onData(chunk: Buffer) {
    inbox = inbox.length ? Buffer.concat([inbox, chunk]) : chunk;
    while (inbox.length >= 4 && inbox.length >= 4 + inbox.readInt32BE(0)) {
      const size = inbox.readInt32BE(0);
      const r = new Reader(inbox.subarray(4, 4 + size));
      inbox = inbox.subarray(4 + size);
      const id = r.i32();
      waiting.get(id)?.resolve(r);
      waiting.delete(id);
    }
  }

  function send(c: Live, apiKey: number, version: number, body: (w: Writer) => void, timeoutMs: number, size?: number) {
    const id = (nextId = (nextId + 1) | 0);
    return new Promise<Reader>((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new Error(`no answer from ${address} in ${timeoutMs} ms`);
        waiting.delete(id);
        reject(err);
        c.drop(err); // a late answer must not be read as the answer to a later request
      }, timeoutMs);
      waiting.set(id, {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      c.socket.write(frame(apiKey, version, id, clientId, body, size));
    });
  }

  /** ApiVersions, then SASL when configured: before any other request on the connection. */
  async function opening(c: Live) {
    const ask = (key: number, version: number, body: (w: Writer) => void) =>
      send(c, key, version, body, openingTimeoutMs);
    const { errorCode, versions } = readApiVersions(await ask(apiKeys.apiVersions, 0, () => {}));
    if (errorCode) throw kafkaFault(errorCode, `ApiVersions from ${address}`);
    for (const [name, key, version] of [...speaks, ...(security.sasl ? speaksSasl : [])]) {
      const served = versions.get(key);
      if (served && served.min <= version && version <= served.max) continue;
      const range = served ? `v${served.min} to v${served.max}` : 'none';
      throw new PipelineError(
        'kafka_unsupported_version',
        `the broker at ${address} does not serve ${name} v${version}, which this producer speaks (it serves ${range})`,
        { retriable: false },
      );
    }
    if (!security.sasl) return;
    const mechanism = security.sasl.mechanism.toUpperCase();
    const offered = readSaslHandshake(await ask(apiKeys.saslHandshake, 1, saslHandshakeRequest(mechanism)));
    if (offered.errorCode) {
      throw new PipelineError(
        'kafka_sasl_failed',
        `the broker at ${address} does not offer SASL ${mechanism} (it offers ${offered.mechanisms.join(', ') || 'none'})`,
        { retriable: false },
      );
    }
    await saslAuthenticate(async (bytes) => {
      const r = readSaslAuthenticate(await ask(apiKeys.saslAuthenticate, 1, saslAuthenticateRequest(bytes)));
      if (!r.errorCode) return r.bytes;
      throw new PipelineError(
        'kafka_sasl_failed',
        `SASL ${mechanism} as ${security.sasl!.username} refused by ${address}: ${r.errorMessage ?? kafkaFault(r.errorCode, '').code}`,
        { retriable: false },
      );
    }, security.sasl);
  }

  /** The live socket, or a new one; a socket's failure fails only what was asked on it. */
  function open(): Live {
    if (live) return live;
    const socket = security.ssl
      ? tlsConnect({ host, port, servername: isIP(host) ? undefined : host, ...security.ssl })
      : connect({ host, port });
    socket.setNoDelay(true).setTimeout(CONNECT_TIMEOUT_MS);
    let failConnect!: (err: Error) => void;
    let opened = false;
    const connecting = new Promise<void>((resolve, reject) => {
      failConnect = reject;
      socket.once(security.ssl ? 'secureConnect' : 'connect', () => {
        socket.setTimeout(0);
        resolve();
      });
    });
    const conn: Live = {
      socket,
      ready: connecting
        .then(() => opening(conn))
        .then(() => void (opened = true))
        .catch((err: Error) => {
          conn.drop(err);
          throw err;
        }),
      drop(err: Error) {
        failConnect(err);
        if (live !== conn) return;
        live = undefined;
        inbox = Buffer.alloc(0);
        socket.destroy();
        for (const w of waiting.values()) w.reject(err);
        waiting.clear();
      },
    };
    conn.ready.catch(() => {}); // awaited by request(); this only keeps a failure nobody awaits from being unhandled
    socket.on('data', onData);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // Until the opening is done: under TLS 1.3 a broker refuses a client certificate after the handshake.
      const untrusted = security.ssl && !opened && UNTRUSTED.test(err.code ?? '');
      conn.drop(
        untrusted
          ? new PipelineError('kafka_tls_failed', `TLS to ${address}: ${err.message}`, { retriable: false, cause: err })
          : err,
      );
    });
    socket.once('timeout', () => conn.drop(new Error(`connecting to ${address} timed out`)));
    socket.once('close', () => conn.drop(new Error(`connection to ${address} closed`)));
    return (live = conn);
  }

  return {
    async request(
      apiKey: number,
      version: number,
      body: (w: Writer) => void,
      timeoutMs: number,
      size?: number,
    ): Promise<Reader> {
      const c = open();
      await c.ready;
      if (live !== c) throw new Error(`connection to ${address} lost`);
      return send(c, apiKey, version, body, timeoutMs, size);
    },
    close: () => live?.drop(new Error('connection closed by the producer')),
  };
}

type Pending = PartitionData & { topic: string };

const toBuffer = (v: Buffer | Uint8Array | string) =>
  typeof v === 'string' ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);

/** The next sequence number after `n` records, wrapping at 2^31 as the broker does. */
const advance = (sequence: number, n: number) => (sequence + n) % 2 ** 31;

export function createProducer(
  config: KafkaConnection & {
    clientId: string;
    deliveryTimeoutMs?: number;
    requestTimeoutMs?: number;
    retryBackoffMs?: number;
  },
  deps: { log: Logger },
) {
  const log = deps.log.child({ mod: 'kafka_producer' });
  const deliveryTimeoutMs = config.deliveryTimeoutMs ?? 30_000;
  const requestTimeoutMs = config.requestTimeoutMs ?? 10_000;
  const backoffMs = config.retryBackoffMs ?? 100;
  const security = kafkaSecurity(config, log);
  const connections = new Map<string, ReturnType<typeof createConnection>>();
  const conn = (address: string) =>
    connections.get(address) ??
    connections.set(address, createConnection(address, config.clientId, security, requestTimeoutMs)).get(address)!;
  let brokers = new Map<number, string>();
  const leaders = new Map<string, { leaders: number[]; at: number }>(); // topic -> leader per partition
  let producer: { producerId: bigint; producerEpoch: number; sequences: Map<string, number> } | undefined;
  let roundRobin = 0;
  let queue: Promise<unknown> = Promise.resolve();
  /** Runs `work` after everything asked before it: one request to the brokers at a time. */
  function serially<T>(work: () => Promise<T>): Promise<T> {
    const run = queue.then(work);
    queue = run.catch(() => {});
    return run;
  }
  /** How long one request may take: the request timeout, within what is left before `deadline`. */
  const attemptMs = (deadline: number) => Math.max(Math.min(deadline - Date.now(), requestTimeoutMs), 1);

  /** Asks each known broker in turn (bootstrap list first); a refusal no retry mends (TLS, SASL) ends it. */
  async function anyBroker<T>(ask: (c: ReturnType<typeof createConnection>) => Promise<T>): Promise<T> {
    let last: unknown;
    for (const address of new Set([...config.KAFKA_BROKERS, ...brokers.values()])) {
      try {
        return await ask(conn(address));
      } catch (err) {
        if (err instanceof PipelineError && !err.retriable) throw err;
        last = err;
      }
    }
    throw new PipelineError('kafka_unreachable', `no Kafka broker answered (${(last as Error)?.message})`, {
      retriable: true,
      cause: last,
    });
  }

  async function refreshMetadata(topics: string[], timeoutMs: number): Promise<void> {
    const meta = await anyBroker(async (c) =>
      readMetadata(await c.request(apiKeys.metadata, 7, metadataRequest(topics), timeoutMs)),
    );
    brokers = meta.brokers;
    for (const t of meta.topics) {
      if (t.errorCode) throw kafkaFault(t.errorCode, `metadata of topic ${t.name}`);
      leaders.set(t.name, {
        leaders: t.partitions.sort((a, b) => a.partition - b.partition).map((p) => p.leader),
        at: Date.now(),
      });
    }
  }

  async function ensureProducer(timeoutMs: number) {
    if (producer) return producer;
    const r = await anyBroker(async (c) =>
      readInitProducerId(await c.request(apiKeys.initProducerId, 1, initProducerIdRequest, timeoutMs)),
    );
    if (r.errorCode) throw kafkaFault(r.errorCode, 'InitProducerId');
    return (producer = { producerId: r.producerId, producerEpoch: r.producerEpoch, sequences: new Map() });
  }

  /** Retries `step` on retriable faults (a broker restarting, a leader moving) until `deadline`. */
  async function retrying<T>(deadline: number, step: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await step(attempt);
      } catch (err) {
        const retriable = !(err instanceof PipelineError) || err.retriable;
        const waitMs = Math.min(backoffMs * 2 ** attempt, 1_000);
        if (!retriable || Date.now() + waitMs >= deadline) throw err;
        log.debug({ err, attempt }, 'produce_retry');
        await sleep(waitMs);
      }
    }
  }

  /** Encodes each partition's records once, with its next sequence numbers: a resend repeats these bytes. */
  function encode(batches: TopicMessages[], compression: Compression, p: NonNullable<typeof producer>): Pending[] {
    const byPartition = new Map<string, { topic: string; partition: number; records: WireRecord[] }>();
    for (const { topic, messages } of batches) {
      const count = leaders.get(topic)!.leaders.length;
      for (const m of messages) {
        const key = m.key === null ? null : toBuffer(m.key);
        if (m.partition !== undefined && !(Number.isInteger(m.partition) && m.partition >= 0 && m.partition < count)) {
          throw new PipelineError(
            'kafka_bad_partition',
            `partition ${m.partition} of topic ${topic} does not exist (it has ${count})`,
            { retriable: false },
          );
        }
        const partition = m.partition ?? (key ? partitionOf(key, count) : roundRobin++ % count);
        const tp = `${topic}/${partition}`;
        let entry = byPartition.get(tp);
        if (!entry) byPartition.set(tp, (entry = { topic, partition, records: [] }));
        entry.records.push({
          key,
          value: toBuffer(m.value),
          headers: m.headers && Object.entries(m.headers).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]),
        });
      }
    }
    const now = Date.now();
    return [...byPartition].map(([tp, { topic, partition, records }]) => {
      const baseSequence = p.sequences.get(tp) ?? 0;
      p.sequences.set(tp, advance(baseSequence, records.length));
      return { topic, partition, batch: recordBatch(records, { ...p, baseSequence }, compression, now) };
    });
  }

  /**
   * Sends `pending` to the partitions' leaders and notes each acknowledged batch's base offset in
   * `written`; returns those to send again. A non-retriable answer throws.
   */
  async function produceOnce(pending: Pending[], timeoutMs: number, written: Map<Pending, bigint>): Promise<Pending[]> {
    const byLeader = new Map<string, Map<string, Pending[]>>();
    for (const b of pending) {
      const address = brokers.get(leaders.get(b.topic)!.leaders[b.partition]!) ?? '';
      const topics = byLeader.get(address) ?? byLeader.set(address, new Map()).get(address)!;
      (topics.get(b.topic) ?? topics.set(b.topic, []).get(b.topic)!).push(b);
    }
    const again: Pending[] = [];
    let fault: PipelineError | undefined;
    await Promise.all(
      [...byLeader].map(async ([address, topics]) => {
        const sent = [...topics.values()].flat();
        try {
          if (!address) throw new Error('a partition has no leader');
          const size = sent.reduce((n, b) => n + b.batch.length + 8, 64);
          const answers = readProduce(
            await conn(address).request(apiKeys.produce, 7, produceRequest(topics, timeoutMs), timeoutMs, size),
          );
          for (const b of sent) {
            const answer = answers.find((r) => r.topic === b.topic && r.partition === b.partition);
            const errorCode = answer?.errorCode ?? -1;
            if (errorCode === 0 || errorCode === DUPLICATE_SEQUENCE) {
              written.set(b, errorCode === 0 && answer!.baseOffset >= 0n ? answer!.baseOffset : -1n);
              continue;
            }
            const refused = kafkaFault(errorCode, `producing to ${b.topic}/${b.partition}`);
            if (!refused.retriable) fault ??= refused;
            again.push(b);
          }
        } catch (err) {
          if (err instanceof PipelineError && !err.retriable) fault ??= err; // the connection's TLS or SASL refused
          again.push(...sent); // no answer: the request may or may not have been written
          log.debug({ err, address }, 'produce_request_failed');
        }
      }),
    );
    if (fault) throw fault;
    return again;
  }

  async function deliver(batches: TopicMessages[], compression: Compression): Promise<Written[]> {
    if (batches.length === 0) return [];
    const deadline = Date.now() + deliveryTimeoutMs;
    const written = new Map<Pending, bigint>();
    const encoded = await retrying(deadline, async () => {
      const stale = [...new Set(batches.map((b) => b.topic))].filter(
        (t) => !leaders.has(t) || Date.now() - leaders.get(t)!.at > METADATA_MAX_AGE_MS,
      );
      if (stale.length) await refreshMetadata(stale, attemptMs(deadline));
      return encode(batches, compression, await ensureProducer(attemptMs(deadline)));
    });
    let pending = encoded;
    try {
      await retrying(deadline, async (attempt) => {
        if (attempt > 0) await refreshMetadata([...new Set(pending.map((b) => b.topic))], attemptMs(deadline));
        pending = await produceOnce(pending, attemptMs(deadline), written);
        if (pending.length)
          throw new PipelineError(
            'kafka_send_timeout',
            `${pending.length} partition batches not acknowledged in ${deliveryTimeoutMs} ms`,
            { retriable: true },
          );
      });
    } catch (err) {
      producer = undefined; // the failed batches' fate is unknown: never reuse their sequence numbers
      throw err;
    }
    return encoded.map((b) => ({ topic: b.topic, partition: b.partition, baseOffset: written.get(b)! }));
  }

  return {
    /** Connects, gets a producer id, and reads the metadata of `topics` (an error if one is missing). */
    connect: (topics: string[] = []) =>
      serially(() => {
        const deadline = Date.now() + deliveryTimeoutMs;
        return retrying(deadline, async () => {
          await ensureProducer(attemptMs(deadline));
          if (topics.length) await refreshMetadata(topics, attemptMs(deadline));
        });
      }),
    /**
     * Resolves once every message is acknowledged by all in-sync replicas, with where each partition's
     * batch was written (one per topic and partition the send touched); sends run one at a time.
     */
    send: (batches: TopicMessages[], opts: { compression?: Compression } = {}): Promise<Written[]> =>
      serially(() =>
        deliver(
          batches.filter((b) => b.messages.length > 0),
          opts.compression ?? 'none',
        ),
      ),
    async disconnect(): Promise<void> {
      await queue;
      for (const c of connections.values()) c.close();
      connections.clear();
    },
  };
}
export type Producer = ReturnType<typeof createProducer>;
