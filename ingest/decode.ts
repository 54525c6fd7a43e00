// Turns a request body into a BeaconBatch: protobuf through the static generated code, or the proto3
// JSON mapping. Events that cannot be mapped, or whose text is not UTF-8, come back as null with
// their reason.
import { isUtf8 } from 'node:buffer';
import $protobuf from 'protobufjs/minimal.js';
import {
  decodeBeaconBatchJson,
  JsonMappingError,
  type BeaconBatchJson,
  type BeaconEvent,
} from '../schemas/beacon-json.js';
import { beacon } from '../schemas/gen/messages.js';
import { notUtf8Reason } from './not-utf8.js';

/** `raw`, protobuf only: each event's encoded bytes, so records carry them without re-encoding. */
export type DecodedBatch = BeaconBatchJson & { raw?: Uint8Array[] };

type Refused = { ok: false; status: 400 | 415; error: string; message: string };
export type Decoded = { ok: true; batch: DecodedBatch } | Refused;

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

export function decodeBody(contentType: string | undefined, body: Uint8Array): Decoded {
  const type = mediaType(contentType);
  if (type === 'application/x-protobuf' || type === 'application/protobuf') {
    try {
      return decodeBatchProtobuf(body);
    } catch (err) {
      return { ok: false, status: 400, error: 'undecodable_body', message: `protobuf: ${(err as Error).message}` };
    }
  }
  if (type === 'application/json') {
    // JSON text is UTF-8 (RFC 8259): decoding other bytes would turn them into U+FFFD unseen.
    if (!isUtf8(body))
      return { ok: false, status: 400, error: 'undecodable_body', message: 'the JSON body is not UTF-8' };
    try {
      return {
        ok: true,
        batch: decodeBeaconBatchJson(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')),
      };
    } catch (err) {
      if (!(err instanceof JsonMappingError)) throw err;
      return { ok: false, status: 400, error: 'undecodable_body', message: err.message };
    }
  }
  return {
    ok: false,
    status: 415,
    error: 'unsupported_media_type',
    message: `expected application/x-protobuf or application/json, got "${type}"`,
  };
}

/** A string field, or undefined when its bytes are not UTF-8 (protobufjs reads those as U+FFFD). */
function readText(r: $protobuf.Reader): string | undefined {
  const at = r.pos;
  const text = r.string();
  if (!text.includes('\uFFFD')) return text;
  r.pos = at;
  return isUtf8(r.bytes()) ? text : undefined;
}

/** The generated decoder reads an event's strings strictly: one that is not UTF-8 rejects that event. */
function decodeEvent(raw: Uint8Array): BeaconEvent | string {
  try {
    return beacon.v1.Event.decode(raw);
  } catch (err) {
    const reason = notUtf8Reason(raw);
    if (reason) return reason;
    throw err;
  }
}

const notUtf8 = (error: string, name: string): Refused => ({
  ok: false,
  status: 400,
  error,
  message: `${name} is not UTF-8`,
});

// BeaconBatch fields (schemas/beacon.proto): 1 app_id, 2 sdk, 3 sent_at, 4 events. Read by hand so
// each event's bytes are kept as they came; every event is then decoded by the generated code.
function decodeBatchProtobuf(body: Uint8Array): Decoded {
  // As a Buffer (a WebSocket frame's batch is a Uint8Array), so both paths read it alike.
  const r = $protobuf.Reader.create(
    Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength),
  );
  const batch: DecodedBatch = { appId: '', sdk: '', sentAt: 0, events: [], rejected: [], raw: [] };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      const text = readText(r);
      if (text === undefined) return notUtf8('invalid_app_id', 'app_id');
      batch.appId = text;
    } else if (field === 2 && wire === 2) {
      const text = readText(r);
      if (text === undefined) return notUtf8('invalid_sdk', 'sdk');
      batch.sdk = text;
    } else if (field === 3 && wire === 0) batch.sentAt = r.int64() as unknown as number;
    else if (field === 4 && wire === 2) {
      const raw = r.bytes();
      batch.raw!.push(raw);
      const event = decodeEvent(raw);
      if (typeof event === 'string') batch.rejected.push({ index: batch.events.push(null) - 1, reason: event });
      else batch.events.push(event);
    } else r.skipType(wire);
  }
  return { ok: true, batch };
}
