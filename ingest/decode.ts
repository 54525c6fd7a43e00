// Turns a request body into a BeaconBatch: protobuf through the static generated code, or the proto3
// JSON mapping. Events the JSON mapping cannot map come back as null with their reason.
import { decodeBeaconBatchJson, JsonMappingError, type BeaconEvent } from '../schemas/beacon-json.js';
import { beacon } from '../schemas/gen/messages.js';

export interface DecodedBatch {
  appId: string;
  sdk: string;
  sentAt: number;
  events: (BeaconEvent | null)[];
  rejected: { index: number; reason: string }[];
}

export type Decoded = { ok: true; batch: DecodedBatch } | { ok: false; status: 400 | 415; error: string; message: string };

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

export function decodeBody(contentType: string | undefined, body: Uint8Array): Decoded {
  const type = mediaType(contentType);
  if (type === 'application/x-protobuf' || type === 'application/protobuf') {
    try {
      const b = beacon.v1.BeaconBatch.decode(body);
      return { ok: true, batch: { appId: b.appId, sdk: b.sdk, sentAt: b.sentAt, events: b.events, rejected: [] } };
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
