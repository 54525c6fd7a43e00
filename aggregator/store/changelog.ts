// One step's changes to its state partition, as a record of the changelog topic (the state's durable
// truth, README "State"): the ids it claimed, what a redelivery of its records must know (which
// events were duplicates, the decisions that were not plain) and its key-value changes. Applying the
// entries of a partition in order, from an empty store or from any entry the store holds, gives the
// state the steps saw.
import type { Decision } from '../attribution.js';

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

const VERSION = 1;
const HEADER = 1 + 1 + 4 + 8 + 8 + 8 + 8 + 4 + 4;

type Body = { d: Entry['duplicates']; o: Entry['decisions']; t: [string, number, string, number, number][]; p: [string, number, string][] };

export function encodeEntry(e: Entry): Buffer {
  const body: Body = { d: e.duplicates, o: e.decisions, t: [], p: [] };
  for (const op of e.ops) {
    if (op.op === 'touch') body.t.push([op.key, op.expiresAt, op.lines, op.oldest, op.cutAt]);
    else body.p.push([op.key, op.expiresAt, op.value]);
  }
  const json = Buffer.from(JSON.stringify(body));
  const out = Buffer.allocUnsafe(HEADER + e.claims.length + json.length);
  let at = out.writeUInt8(VERSION, 0);
  at = out.writeUInt8(e.source.kind.charCodeAt(0), at);
  at = out.writeUInt32BE(e.source.partition, at);
  at = out.writeDoubleBE(e.seq, at);
  at = out.writeDoubleBE(e.at, at);
  at = out.writeDoubleBE(e.source.first, at);
  at = out.writeDoubleBE(e.source.last, at);
  at = out.writeUInt32BE(e.claims.length, at);
  at = out.writeUInt32BE(json.length, at);
  at += e.claims.copy(out, at);
  json.copy(out, at);
  return out;
}

/** The entry in `b`, or why it cannot be read (a record this version did not write). */
export function decodeEntry(b: Buffer): { ok: true; entry: Entry } | { ok: false; reason: string } {
  if (b.length < HEADER) return { ok: false, reason: `changelog entry of ${b.length} bytes` };
  if (b.readUInt8(0) !== VERSION) return { ok: false, reason: `changelog entry version ${b.readUInt8(0)}` };
  const kind = String.fromCharCode(b.readUInt8(1));
  if (kind !== 'b' && kind !== 'c') return { ok: false, reason: `changelog source kind ${kind}` };
  const claimsLength = b.readUInt32BE(38);
  const jsonLength = b.readUInt32BE(42);
  if (HEADER + claimsLength + jsonLength !== b.length || claimsLength % 16 !== 0) return { ok: false, reason: 'changelog entry lengths' };
  const body = JSON.parse(b.toString('utf8', HEADER + claimsLength)) as Body;
  const ops: KvOp[] = [
    ...body.t.map(([key, expiresAt, lines, oldest, cutAt]): KvOp => ({ op: 'touch', key, expiresAt, lines, oldest, cutAt })),
    ...body.p.map(([key, expiresAt, value]): KvOp => ({ op: 'put', key, expiresAt, value })),
  ];
  return {
    ok: true,
    entry: {
      seq: b.readDoubleBE(6), at: b.readDoubleBE(14),
      source: { kind, partition: b.readUInt32BE(2), first: b.readDoubleBE(22), last: b.readDoubleBE(30) },
      claims: b.subarray(HEADER, HEADER + claimsLength), duplicates: body.d, decisions: body.o, ops,
    },
  };
}
