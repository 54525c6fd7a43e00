import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeBeaconBatchJson, type BeaconEvent } from '../../schemas/beacon-json.js';
import { beacon } from '../../schemas/gen/messages.js';
import { encodeBatch, encodeBatchJson, encodeSignedBatch } from './wire.js';

const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const int64 = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 0, max: 2 ** 31 }),
  fc.maxSafeInteger(),
  fc.integer({ min: -1e15, max: -1 }),
);
const event: fc.Arbitrary<BeaconEvent> = fc.record(
  {
    eventId: text,
    type: fc.integer({ min: 0, max: 5 }),
    occurredAt: int64,
    userId: text,
    deviceId: text,
    campaignId: text,
    creativeId: text,
    placementId: text,
    clickId: text,
    valueMicros: int64,
    currency: text,
    attrs: fc.dictionary(text, text, { maxKeys: 3 }),
  },
  { requiredKeys: ['eventId', 'type', 'occurredAt', 'userId', 'deviceId', 'campaignId', 'creativeId', 'placementId'] },
);
const batch = fc.record({
  appId: text,
  sdk: text,
  sentAt: int64,
  events: fc.array(event, { maxLength: 4 }),
});

describe("the SDK's hand-written encodings", () => {
  it('write the bytes the generated protobuf code writes', () => {
    fc.assert(
      fc.property(batch, (b) => {
        expect(Buffer.from(encodeBatch(b))).toEqual(Buffer.from(beacon.v1.BeaconBatch.encode(b).finish()));
      }),
      { numRuns: 500 },
    );
  });

  it('write the stream frames the generated code writes', () => {
    const frame = fc.record({ keyId: text, t: int64, signature: text, batch: fc.uint8Array({ maxLength: 40 }) });
    fc.assert(
      fc.property(frame, (f) => {
        expect(Buffer.from(encodeSignedBatch(f))).toEqual(Buffer.from(beacon.v1.SignedBatch.encode(f).finish()));
      }),
      { numRuns: 300 },
    );
  });

  it('write the proto3 JSON the schema module writes', () => {
    fc.assert(
      fc.property(batch, (b) => {
        expect(encodeBatchJson(b)).toBe(encodeBeaconBatchJson(b));
      }),
      { numRuns: 500 },
    );
  });
});
