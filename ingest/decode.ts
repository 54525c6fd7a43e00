// Turns a request body into a BeaconBatch: protobuf through the static generated code, or the proto3
// JSON mapping. Events the JSON mapping cannot map come back as null with their reason.
import $protobuf from 'protobufjs/minimal.js';
import { decodeBeaconBatchJson, JsonMappingError, type BeaconBatchJson } from '../schemas/beacon-json.js';
import { beacon } from '../schemas/gen/messages.js';

/** `raw`, protobuf only: each event's encoded bytes, so records carry them without re-encoding. */
export type DecodedBatch = BeaconBatchJson & { raw?: Uint8Array[] };

export type Decoded = { ok: true; batch: DecodedBatch } | { ok: false; status: 400 | 415; error: string; message: string };

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

export function decodeBody(contentType: string | undefined, body: Uint8Array): Decoded {
  const type = mediaType(contentType);
  if (type === 'application/x-protobuf' || type === 'application/protobuf') {
    try {
      return { ok: true, batch: decodeBatchProtobuf(body) };
    } catch (err) {
      return { ok: false, status: 400, error: 'undecodable_body', message: `protobuf: ${(err as Error).message}` };
    }
  }
  if (type === 'application/json') {
    try {
      return { ok: true, batch: decodeBeaconBatchJson(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) };
    } catch (err) {
      if (!(err instanceof JsonMappingError)) throw err;
      return { ok: false, status: 400, error: 'undecodable_body', message: err.message };
    }
  }
  return { ok: false, status: 415, error: 'unsupported_media_type', message: `expected application/x-protobuf or application/json, got "${type}"` };
}

// BeaconBatch fields (schemas/beacon.proto): 1 app_id, 2 sdk, 3 sent_at, 4 events. Read by hand so
// each event's bytes are kept as they came; every event is then decoded by the generated code.
function decodeBatchProtobuf(body: Uint8Array): DecodedBatch {
  const r = $protobuf.Reader.create(body);
  const batch: DecodedBatch = { appId: '', sdk: '', sentAt: 0, events: [], rejected: [], raw: [] };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === 2) batch.appId = r.string();
    else if (field === 2 && wire === 2) batch.sdk = r.string();
    else if (field === 3 && wire === 0) batch.sentAt = r.int64() as unknown as number;
    else if (field === 4 && wire === 2) {
      const raw = r.bytes();
      batch.raw!.push(raw);
      batch.events.push(beacon.v1.Event.decode(raw));
    } else r.skipType(wire);
  }
  return batch;
}
