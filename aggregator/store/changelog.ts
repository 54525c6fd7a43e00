// One step's changes to its state partition, as a record of the changelog topic (the state's durable
// truth, README "State"): the ids it claimed, what a redelivery of its records must know (which
// events were duplicates, the decisions that were not plain) and its key-value changes. Applying the
// entries of a partition in order, from an empty store or from any entry the store holds, gives the
// state the steps saw.
import type { Decision } from '../attribution.js';
import { ByteWriter } from '../byte-writer.js';

/** Which input topic a step read: the beacons or the confirmations. */
export type SourceKind = 'b' | 'c';

/** A change to one key: append touch lines (then cut: state.ts appendTouches), or set the value. */
export type KvOp =
  | { op: 'touch'; key: string; expiresAt: number; lines: string; oldest: number; cutAt: number }
  | { op: 'put'; key: string; expiresAt: number; value: string };

export interface Entry {
  /** Per state partition, one more than the entry before. */
  seq: number;
  /** When the step was decided (ms): lifetimes start here. */
  at: number;
  source: { kind: SourceKind; partition: number; first: number; last: number };
  /** 16-byte claim ids (store/claims.ts claimId), concatenated. */
  claims: Buffer;
  /** Events (offset, index) the step found to be duplicates. */
  duplicates: [number, number][];
  /** Fresh events whose decision is not the plain one (valid, unattributed, not earning). */
  decisions: [number, number, Decision][];
  ops: KvOp[];
}

/**
 * Version 2: after the header and the claims, the duplicates and decisions as JSON (few: a step's
 * non-plain decisions), then each op in binary, its strings as they are (UTF-8, with their byte length):
 *   u8 op (0 touch, 1 put), str key, f64 expiresAt, then a touch: str lines, f64 oldest, f64 cutAt; a put: str value.
 * Touch lines and pairing hashes are JSON themselves, so version 1, which carried the ops inside the
 * JSON, escaped every quote of theirs once more. Version 1 is still read.
 */
const VERSION = 2;
const HEADER = 1 + 1 + 4 + 8 + 8 + 8 + 8 + 4 + 4;
const TOUCH = 0;
const PUT = 1;

type Body = {
  d: Entry['duplicates'];
  o: Entry['decisions'];
  t?: [string, number, string, number, number][];
  p?: [string, number, string][];
};

/** Big-endian doubles and length-prefixed UTF-8 strings. */
class Writer extends ByteWriter {
  f64(n: number): void {
    this.room(8);
    this.pos = this.buf.writeDoubleBE(n, this.pos);
  }
  /** A string's UTF-8 byte length, then its bytes. State text is well formed (records.ts and confirmations.ts refuse a lone surrogate, which UTF-8 cannot carry). */
  str(s: string): void {
    if (!s.isWellFormed()) throw new Error('changelog text with a lone surrogate');
    this.room(4 + 3 * s.length);
    const bytes = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32BE(bytes, this.pos);
    this.pos += 4 + bytes;
  }
}

export function encodeEntry(e: Entry): Buffer {
  const json = JSON.stringify({ d: e.duplicates, o: e.decisions } satisfies Body);
  const w = new Writer();
  w.room(HEADER + e.claims.length);
  w.pos = HEADER;
  w.pos += e.claims.copy(w.buf, w.pos);
  w.str(json);
  for (const op of e.ops) {
    w.room(1);
    w.buf[w.pos++] = op.op === 'touch' ? TOUCH : PUT;
    w.str(op.key);
    w.f64(op.expiresAt);
    if (op.op === 'touch') {
      w.str(op.lines);
      w.f64(op.oldest);
      w.f64(op.cutAt);
    } else w.str(op.value);
  }
  const b = w.buf;
  let at = b.writeUInt8(VERSION, 0);
  at = b.writeUInt8(e.source.kind.charCodeAt(0), at);
  at = b.writeUInt32BE(e.source.partition, at);
  at = b.writeDoubleBE(e.seq, at);
  at = b.writeDoubleBE(e.at, at);
  at = b.writeDoubleBE(e.source.first, at);
  at = b.writeDoubleBE(e.source.last, at);
  at = b.writeUInt32BE(e.claims.length, at);
  b.writeUInt32BE(w.pos - HEADER - e.claims.length, at);
  return Buffer.from(b.subarray(0, w.pos)); // its own memory: the writer's is twice as large at worst
}

/** Reads version 2's ops from `b` at `at` to its end; throws a RangeError when one runs past it. */
function readOps(b: Buffer, at: number): KvOp[] {
  const str = () => {
    const bytes = b.readUInt32BE(at);
    if (at + 4 + bytes > b.length) throw new RangeError('string past the entry');
    const s = b.toString('utf8', at + 4, at + 4 + bytes);
    at += 4 + bytes;
    return s;
  };
  const f64 = () => {
    const n = b.readDoubleBE(at);
    at += 8;
    return n;
  };
  const ops: KvOp[] = [];
  while (at < b.length) {
    const kind = b.readUInt8(at++);
    if (kind !== TOUCH && kind !== PUT) throw new RangeError(`op ${kind}`);
    const key = str();
    const expiresAt = f64();
    ops.push(
      kind === TOUCH
        ? { op: 'touch', key, expiresAt, lines: str(), oldest: f64(), cutAt: f64() }
        : { op: 'put', key, expiresAt, value: str() },
    );
  }
  return ops;
}

/** The entry in `b`, or why it cannot be read (a record no version wrote). */
export function decodeEntry(b: Buffer): { ok: true; entry: Entry } | { ok: false; reason: string } {
  if (b.length < HEADER) return { ok: false, reason: `changelog entry of ${b.length} bytes` };
  const version = b.readUInt8(0);
  if (version !== 1 && version !== VERSION) return { ok: false, reason: `changelog entry version ${version}` };
  const kind = String.fromCharCode(b.readUInt8(1));
  if (kind !== 'b' && kind !== 'c') return { ok: false, reason: `changelog source kind ${kind}` };
  const claimsLength = b.readUInt32BE(38);
  const bodyLength = b.readUInt32BE(42);
  if (HEADER + claimsLength + bodyLength !== b.length || claimsLength % 16 !== 0)
    return { ok: false, reason: 'changelog entry lengths' };
  let body: Body;
  let ops: KvOp[];
  try {
    if (version === 1) {
      body = JSON.parse(b.toString('utf8', HEADER + claimsLength)) as Body;
      ops = [
        ...(body.t ?? []).map(([key, expiresAt, lines, oldest, cutAt]): KvOp => ({
          op: 'touch',
          key,
          expiresAt,
          lines,
          oldest,
          cutAt,
        })),
        ...(body.p ?? []).map(([key, expiresAt, value]): KvOp => ({ op: 'put', key, expiresAt, value })),
      ];
    } else {
      const at = HEADER + claimsLength;
      const jsonLength = b.readUInt32BE(at);
      body = JSON.parse(b.toString('utf8', at + 4, at + 4 + jsonLength)) as Body;
      ops = readOps(b, at + 4 + jsonLength);
    }
  } catch (err) {
    return { ok: false, reason: `changelog entry body: ${(err as Error).message}` };
  }
  return {
    ok: true,
    entry: {
      seq: b.readDoubleBE(6),
      at: b.readDoubleBE(14),
      source: { kind, partition: b.readUInt32BE(2), first: b.readDoubleBE(22), last: b.readDoubleBE(30) },
      claims: b.subarray(HEADER, HEADER + claimsLength),
      duplicates: body.d,
      decisions: body.o,
      ops,
    },
  };
}
