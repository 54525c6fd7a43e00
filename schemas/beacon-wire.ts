// A BeaconBatch in its two encodings (CONTRACTS §1), written by hand: the SDK only ever encodes,
// and a page then carries no protobuf runtime (the browser bundle is about a tenth of what it is
// with protobufjs and the generated code). beacon-wire.test.ts checks the protobuf against the
// generated code, byte for byte, and the JSON against beacon-json.ts's decoder, on random batches.
import type { BeaconEvent } from './beacon-json.js';

export const EventType = {
  EVENT_TYPE_UNSPECIFIED: 0,
  IMPRESSION: 1,
  VIEWABLE: 2,
  CLICK: 3,
  REWARD_COMPLETE: 4,
  CONVERSION: 5,
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];
const typeNames = Object.keys(EventType);

export interface Batch {
  appId: string;
  sdk: string;
  sentAt: number;
  events: BeaconEvent[];
}

const utf8 = new TextEncoder();
const TEXT_FIELDS = ['eventId', 'userId', 'deviceId', 'campaignId', 'creativeId', 'placementId', 'clickId', 'currency'];

/** Why `e` cannot be encoded (a field of the wrong kind: `valueMicros: 2.5`), or undefined when it can. */
export function unencodable(e: BeaconEvent): string | undefined {
  if (!Number.isInteger(e.type ?? 0)) return `type: expected an event type, got ${String(e.type)}`;
  for (const name of ['occurredAt', 'valueMicros'] as const) {
    const v = e[name];
    if (v != null && !Number.isSafeInteger(v)) return `${name}: expected a safe integer, got ${String(v)}`;
  }
  for (const name of TEXT_FIELDS) {
    const v = e[name as keyof BeaconEvent];
    if (v != null && typeof v !== 'string') return `${name}: expected a string`;
  }
  for (const [k, v] of Object.entries(e.attrs ?? {})) if (typeof v !== 'string') return `attrs.${k}: expected a string`;
  return undefined;
}

/** A /v1/stream frame: the batch's protobuf bytes and their signature. */
export interface SignedBatch {
  keyId: string;
  t: number;
  signature: string;
  batch: Uint8Array;
}

/** Protobuf bytes, as the generated code writes them: fields in number order, proto3 defaults left out. */
export function encodeBatch(batch: Batch): Uint8Array {
  const { out, text, int, nested } = writer();
  text(1, batch.appId);
  text(2, batch.sdk);
  int(3, batch.sentAt);
  for (const e of batch.events) {
    nested(4, () => {
      text(1, e.eventId);
      int(2, e.type);
      int(3, e.occurredAt as number);
      text(4, e.userId);
      text(5, e.deviceId);
      text(6, e.campaignId);
      text(7, e.creativeId);
      text(8, e.placementId);
      text(9, e.clickId, true);
      int(10, e.valueMicros as number | null | undefined, true);
      text(11, e.currency, true);
      for (const [k, v] of Object.entries(e.attrs ?? {}))
        nested(12, () => {
          text(1, k, true);
          text(2, v, true);
        });
    });
  }
  return Uint8Array.from(out);
}

export function encodeSignedBatch(frame: SignedBatch): Uint8Array {
  const { out, text, int, bytes } = writer();
  text(1, frame.keyId);
  int(2, frame.t);
  text(3, frame.signature);
  if (frame.batch.length) bytes(4, frame.batch);
  return Uint8Array.from(out);
}

/** Protobuf's field writers, appending to `out`. */
function writer() {
  const out: number[] = [];
  const varint = (n: number | bigint) => {
    let v = BigInt.asUintN(64, BigInt(n)); // int64 and enum values: negatives take ten bytes
    for (; v > 0x7fn; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
    out.push(Number(v));
  };
  const bytes = (field: number, b: Uint8Array | number[]) => {
    varint((field << 3) | 2);
    varint(b.length);
    for (const x of b) out.push(x);
  };
  const text = (field: number, s: string | null | undefined, always = false) => {
    if (s != null && (always || s !== '')) bytes(field, utf8.encode(s));
  };
  const int = (field: number, n: number | null | undefined, always = false) => {
    if (n == null || (!always && Number(n) === 0)) return;
    varint(field << 3);
    varint(n);
  };
  /** Writes what `write` adds as one length-delimited field. */
  const nested = (field: number, write: () => void) => {
    const start = out.length;
    write();
    bytes(field, out.splice(start));
  };
  return { out, text, int, bytes, nested };
}

/** The canonical proto3 JSON (lowerCamelCase, int64 as strings, enums by name). */
export function encodeBatchJson(batch: Batch): string {
  return JSON.stringify({
    appId: batch.appId,
    sdk: batch.sdk,
    sentAt: String(batch.sentAt),
    events: batch.events.map((e) => ({
      ...e,
      type: typeNames[e.type ?? 0],
      occurredAt: String(e.occurredAt ?? 0),
      ...(e.valueMicros != null ? { valueMicros: String(e.valueMicros) } : {}),
    })),
  });
}
