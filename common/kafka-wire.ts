// Kafka's wire format as far as producing needs it (kafka.apache.org/protocol): request framing,
// ApiVersions v0, SaslHandshake v1 and SaslAuthenticate v1 (a connection's opening), Metadata v7,
// InitProducerId v1 and Produce v7 (all within the Kafka 2.1 baseline that 4.x keeps), record batches (magic 2) with their CRC-32C, and the Java client's murmur2 partitioner.
import { gzipSync } from 'node:zlib';
import { compressSync } from 'snappy';
import { PipelineError } from './errors.js';

export const apiKeys = {
  produce: 0,
  metadata: 3,
  saslHandshake: 17,
  apiVersions: 18,
  initProducerId: 22,
  saslAuthenticate: 36,
} as const;

export type Compression = 'none' | 'gzip' | 'snappy';
const codecIds: Record<Compression, number> = { none: 0, gzip: 1, snappy: 2 };
// Snappy as raw blocks, which the broker reads (it detects Java's xerial framing when present).
const compressors: Record<Compression, (b: Buffer) => Buffer> = {
  none: (b) => b,
  gzip: (b) => gzipSync(b),
  snappy: (b) => compressSync(b) as Buffer,
};

/** Big-endian writer over one growing buffer. */
export class Writer {
  buf: Buffer;
  at = 0;
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }
  private room(n: number) {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
  i8(v: number) {
    this.room(1);
    this.at = this.buf.writeInt8(v, this.at);
    return this;
  }
  i16(v: number) {
    this.room(2);
    this.at = this.buf.writeInt16BE(v, this.at);
    return this;
  }
  i32(v: number) {
    this.room(4);
    this.at = this.buf.writeInt32BE(v, this.at);
    return this;
  }
  i64(v: bigint) {
    this.room(8);
    this.at = this.buf.writeBigInt64BE(v, this.at);
    return this;
  }
  /** A nullable string: int16 length (-1 for null), then UTF-8. */
  str(s: string | null) {
    if (s === null) return this.i16(-1);
    const n = Buffer.byteLength(s);
    this.i16(n).room(n);
    this.at += this.buf.write(s, this.at);
    return this;
  }
  bytes(b: Uint8Array) {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }
  /** A zigzag varint (record fields). */
  varint(v: number) {
    this.room(5);
    let z = ((v << 1) ^ (v >> 31)) >>> 0;
    while (z > 0x7f) {
      this.buf[this.at++] = (z & 0x7f) | 0x80;
      z >>>= 7;
    }
    this.buf[this.at++] = z;
    return this;
  }
  done(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

const varintSize = (v: number) => {
  const z = ((v << 1) ^ (v >> 31)) >>> 0;
  return z < 1 << 7 ? 1 : z < 1 << 14 ? 2 : z < 1 << 21 ? 3 : z < 1 << 28 ? 4 : 5;
};

export class Reader {
  at = 0;
  constructor(private readonly buf: Buffer) {}
  i8() {
    return this.buf.readInt8((this.at += 1) - 1);
  }
  i16() {
    return this.buf.readInt16BE((this.at += 2) - 2);
  }
  i32() {
    return this.buf.readInt32BE((this.at += 4) - 4);
  }
  i64() {
    return this.buf.readBigInt64BE((this.at += 8) - 8);
  }
  str(): string | null {
    const n = this.i16();
    if (n < 0) return null;
    return this.buf.toString('utf8', this.at, (this.at += n));
  }
  bytes(): Buffer | null {
    const n = this.i32();
    if (n < 0) return null;
    return this.buf.subarray(this.at, (this.at += n));
  }
  array<T>(item: () => T): T[] {
    const n = this.i32();
    return Array.from({ length: Math.max(n, 0) }, item);
  }
}

const CRC32C_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
  return c;
});
/** CRC-32C (Castagnoli), as record batches carry it. */
export function crc32c(b: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < b.length; i++) c = CRC32C_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** The partition the Java client (and kafkajs's default partitioner) picks for a key: murmur2, made positive. */
export function partitionOf(key: Uint8Array, partitions: number): number {
  const m = 0x5bd1e995;
  const len = key.length;
  let h = 0x9747b28c ^ len;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    let k = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    h = Math.imul(h, m) ^ Math.imul(k, m);
  }
  const rest = len - i;
  if (rest === 3) h ^= key[i + 2]! << 16;
  if (rest >= 2) h ^= key[i + 1]! << 8;
  if (rest >= 1) h = Math.imul(h ^ key[i]!, m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return (h & 0x7fffffff) % partitions;
}

export interface WireRecord {
  key: Buffer | null;
  value: Uint8Array;
  headers?: [Buffer, Buffer][];
}
export interface BatchProducer {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
}

const bytesSize = (n: number) => varintSize(n) + n;

/**
 * A record batch (magic 2): the 61-byte header, then the records, compressed as one block. Each
 * record: length, attributes, timestamp delta, offset delta, key, value, headers (lengths as varints).
 */
export function recordBatch(records: WireRecord[], p: BatchProducer, compression: Compression, nowMs: number): Buffer {
  const body = new Writer(records.reduce((s, r) => s + r.value.length + (r.key?.length ?? 0) + 12, 0));
  records.forEach((r, i) => {
    const headers = r.headers ?? [];
    const size =
      2 +
      varintSize(i) +
      (r.key ? bytesSize(r.key.length) : 1) +
      bytesSize(r.value.length) +
      headers.reduce((n, [k, v]) => n + bytesSize(k.length) + bytesSize(v.length), varintSize(headers.length));
    body.varint(size).i8(0).varint(0).varint(i);
    if (r.key) body.varint(r.key.length).bytes(r.key);
    else body.varint(-1);
    body.varint(r.value.length).bytes(r.value).varint(headers.length);
    for (const [k, v] of headers) body.varint(k.length).bytes(k).varint(v.length).bytes(v);
  });
  const payload = compressors[compression](body.done());
  const w = new Writer(61 + payload.length)
    .i64(0n)
    .i32(49 + payload.length)
    .i32(-1)
    .i8(2)
    .i32(0) // base offset, length, leader epoch, magic, CRC (below)
    .i16(codecIds[compression])
    .i32(records.length - 1)
    .i64(BigInt(nowMs))
    .i64(BigInt(nowMs))
    .i64(p.producerId)
    .i16(p.producerEpoch)
    .i32(p.baseSequence)
    .i32(records.length)
    .bytes(payload);
  const batch = w.done();
  batch.writeUInt32BE(crc32c(batch.subarray(21)), 17);
  return batch;
}

/** A request frame: size, header v1 (api key, version, correlation id, client id), body. */
export function frame(
  apiKey: number,
  version: number,
  correlationId: number,
  clientId: string,
  body: (w: Writer) => void,
  size = 256,
): Buffer {
  const w = new Writer(size).i32(0).i16(apiKey).i16(version).i32(correlationId).str(clientId);
  body(w);
  const out = w.done();
  out.writeInt32BE(out.length - 4, 0);
  return out;
}

export interface PartitionData {
  partition: number;
  batch: Buffer;
}
export const produceRequest = (topics: Map<string, PartitionData[]>, timeoutMs: number) => (w: Writer) => {
  w.str(null).i16(-1).i32(timeoutMs).i32(topics.size); // no transactional id, acks=all
  for (const [topic, partitions] of topics) {
    w.str(topic).i32(partitions.length);
    for (const p of partitions) w.i32(p.partition).i32(p.batch.length).bytes(p.batch);
  }
};
export const readProduce = (r: Reader) =>
  r
    .array(() => {
      const topic = r.str()!;
      return r.array(() => {
        const partition = r.i32();
        const errorCode = r.i16();
        const baseOffset = r.i64(); // -1 when the broker names none (an error, acks=0)
        r.i64(); // log append time
        r.i64(); // log start offset
        return { topic, partition, errorCode, baseOffset };
      });
    })
    .flat();

export const metadataRequest = (topics: string[]) => (w: Writer) => {
  w.i32(topics.length);
  for (const t of topics) w.str(t);
  w.i8(0); // never create topics
};
export function readMetadata(r: Reader) {
  r.i32(); // throttle
  const brokers = new Map(
    r.array(() => {
      const id = r.i32();
      const address = `${r.str()}:${r.i32()}`;
      r.str(); // rack
      return [id, address] as const;
    }),
  );
  r.str(); // cluster id
  r.i32(); // controller
  const topics = r.array(() => {
    const errorCode = r.i16();
    const name = r.str()!;
    r.i8(); // internal
    const partitions = r.array(() => {
      const p = { errorCode: r.i16(), partition: r.i32(), leader: r.i32() };
      r.i32(); // leader epoch
      for (let list = 0; list < 3; list++) r.array(() => r.i32()); // replicas, in-sync, offline
      return p;
    });
    return { errorCode, name, partitions };
  });
  return { brokers, topics };
}

/** Each API the broker serves, with its lowest and highest version. */
export function readApiVersions(r: Reader) {
  const errorCode = r.i16();
  const versions = new Map(r.array(() => [r.i16(), { min: r.i16(), max: r.i16() }] as const));
  return { errorCode, versions };
}

export const saslHandshakeRequest = (mechanism: string) => (w: Writer) => void w.str(mechanism);
export function readSaslHandshake(r: Reader) {
  return { errorCode: r.i16(), mechanisms: r.array(() => r.str()!) };
}
export const saslAuthenticateRequest = (bytes: Buffer) => (w: Writer) => void w.i32(bytes.length).bytes(bytes);
export function readSaslAuthenticate(r: Reader) {
  return { errorCode: r.i16(), errorMessage: r.str(), bytes: r.bytes() ?? Buffer.alloc(0) };
}

export const initProducerIdRequest = (w: Writer) => void w.str(null).i32(60_000);
export function readInitProducerId(r: Reader) {
  r.i32(); // throttle
  return { errorCode: r.i16(), producerId: r.i64(), producerEpoch: r.i16() };
}

/** The broker error codes a producer meets; anything else is not retriable. */
const kafkaErrors: Record<number, { name: string; retriable: boolean }> = {
  [-1]: { name: 'unknown_server_error', retriable: false },
  2: { name: 'corrupt_message', retriable: false },
  3: { name: 'unknown_topic_or_partition', retriable: true },
  5: { name: 'leader_not_available', retriable: true },
  6: { name: 'not_leader_or_follower', retriable: true },
  7: { name: 'request_timed_out', retriable: true },
  10: { name: 'message_too_large', retriable: false },
  13: { name: 'network_exception', retriable: true },
  14: { name: 'coordinator_load_in_progress', retriable: true }, // a fresh broker loading its producer state
  15: { name: 'coordinator_not_available', retriable: true },
  16: { name: 'not_coordinator', retriable: true },
  19: { name: 'not_enough_replicas', retriable: true },
  20: { name: 'not_enough_replicas_after_append', retriable: true },
  29: { name: 'topic_authorization_failed', retriable: false },
  31: { name: 'cluster_authorization_failed', retriable: false },
  33: { name: 'unsupported_sasl_mechanism', retriable: false },
  34: { name: 'illegal_sasl_state', retriable: false },
  35: { name: 'unsupported_version', retriable: false },
  45: { name: 'out_of_order_sequence_number', retriable: false },
  46: { name: 'duplicate_sequence_number', retriable: false }, // the batch is already written: a success
  47: { name: 'invalid_producer_epoch', retriable: false },
  56: { name: 'kafka_storage_error', retriable: true },
  58: { name: 'sasl_authentication_failed', retriable: false },
  59: { name: 'unknown_producer_id', retriable: false },
  87: { name: 'invalid_record', retriable: false },
};
export const DUPLICATE_SEQUENCE = 46;
/** A broker's error code as a fault, named after the code, with whether the same request may succeed later. */
export function kafkaFault(code: number, where: string): PipelineError {
  const { name, retriable } = kafkaErrors[code] ?? { name: `kafka_error_${code}`, retriable: false };
  return new PipelineError(name, `${where}: ${name}`, { retriable, source: 'kafka' });
}
