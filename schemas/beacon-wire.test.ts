import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBeaconBatchJson, type BeaconEvent, type EventType } from './beacon-json.js';
import { encodeBatch, encodeBatchJson, encodeSignedBatch, unencodable } from './beacon-wire.js';
import { beacon } from './gen/messages.js';

const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const int64 = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 0, max: 2 ** 31 }),
  fc.maxSafeInteger(),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: -1 }),
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

describe('the hand-written encodings', () => {
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

  it('write proto3 JSON that the collector decodes to the same batch', () => {
    fc.assert(
      fc.property(batch, (b) => {
        expect(decodeBeaconBatchJson(encodeBatchJson(b))).toEqual({ ...b, rejected: [] });
      }),
      { numRuns: 500 },
    );
  });

  it('say which events they cannot encode, and encode every other', () => {
    fc.assert(
      fc.property(event, (e) => {
        expect(unencodable(e)).toBeUndefined();
      }),
    );
    const base = fc.sample(event, 1)[0]!;
    const bad = fc.oneof(fc.double({ noInteger: true }), fc.constant(2 ** 53), fc.constant(-(2 ** 60)));
    fc.assert(
      fc.property(bad, fc.constantFrom('occurredAt', 'valueMicros'), (v, name) => {
        expect(unencodable({ ...base, [name]: v })).toMatch(new RegExp(`^${name}: expected a safe integer`));
      }),
    );
    expect(unencodable({ ...base, type: 1.5 as EventType })).toMatch(/^type:/);
    expect(unencodable({ ...base, userId: 7 as unknown as string })).toBe('userId: expected a string');
    expect(unencodable({ ...base, attrs: { os: 1 as unknown as string } })).toBe('attrs.os: expected a string');
  });
});
