import { describe, expect, it } from 'vitest';
import { decodeBeaconBatchJson, EventType, JsonMappingError } from './beacon-json.js';
import { encodeBatchJson } from './beacon-wire.js';
import { beacon } from './gen/messages.js';

const event = {
  eventId: '6f1c2a8e-3b4d-4c5e-8f90-1a2b3c4d5e6f',
  type: EventType.CONVERSION,
  occurredAt: 1_700_000_000_123,
  userId: 'u1',
  deviceId: 'd1',
  campaignId: 'c1',
  creativeId: 'cr1',
  placementId: 'p1',
  clickId: '7f1c2a8e-3b4d-4c5e-8f90-1a2b3c4d5e6f',
  valueMicros: 1_990_000,
  currency: 'CNY',
  attrs: { os: 'ios' },
};
const batch = { appId: 'app.one', sdk: 'ios/3.2.0', sentAt: 1_700_000_000_500, events: [event] };

describe('beacon JSON mapping (proto3 JSON)', () => {
  it('decodes its own canonical encoding to the same message', () => {
    const decoded = decodeBeaconBatchJson(encodeBatchJson(batch));
    expect(decoded).toEqual({ ...batch, rejected: [] });
  });

  it('accepts original snake_case names, int64 as numbers and enums by number', () => {
    const decoded = decodeBeaconBatchJson(
      JSON.stringify({
        app_id: 'a',
        sdk: 's',
        sent_at: 5,
        events: [{ event_id: 'e', type: 3, occurred_at: '4', user_id: 'u', value_micros: 0, attrs: {} }],
      }),
    );
    expect(decoded.appId).toBe('a');
    expect(decoded.sentAt).toBe(5);
    expect(decoded.events[0]).toMatchObject({
      eventId: 'e',
      type: EventType.CLICK,
      occurredAt: 4,
      userId: 'u',
      valueMicros: 0,
    });
  });

  it('treats null as the default value', () => {
    const decoded = decodeBeaconBatchJson('{"appId":"a","sdk":null,"events":[{"clickId":null,"type":"CLICK"}]}');
    expect(decoded.sdk).toBe('');
    expect(decoded.events[0]).toEqual({ type: EventType.CLICK });
  });

  it.each([
    ['not json', /invalid JSON/],
    ['[]', /must be a JSON object/],
    ['{"appId":1}', /app_id: expected a string/],
    ['{"sentAt":1.5}', /sent_at: expected an integer/],
    ['{"sentAt":"9007199254740993"}', /sent_at: out of range/],
    ['{"events":{}}', /events: expected an array/],
    ['{"app_id":"a","appId":"b"}', /given twice/],
    ['{"bogus":1}', /unknown field "bogus"/],
  ])('rejects the whole batch for %s', (body, reason) => {
    expect(() => decodeBeaconBatchJson(body)).toThrow(JsonMappingError);
    expect(() => decodeBeaconBatchJson(body)).toThrow(reason);
  });

  it('rejects only the events that do not map, keeping their indexes', () => {
    const decoded = decodeBeaconBatchJson(
      JSON.stringify({
        appId: 'a',
        events: [{ type: 'CLICK' }, { type: 'PURCHASE' }, 7, { attrs: { k: 1 } }, { user_id: 5 }, { type: 'VIEWABLE' }],
      }),
    );
    expect(decoded.events.map((e) => e?.type ?? null)).toEqual([
      EventType.CLICK,
      null,
      null,
      null,
      null,
      EventType.VIEWABLE,
    ]);
    expect(decoded.rejected).toEqual([
      { index: 1, reason: 'type: unknown event type "PURCHASE"' },
      { index: 2, reason: 'expected an object' },
      { index: 3, reason: 'attrs.k: expected a string' },
      { index: 4, reason: 'user_id: expected a string' },
    ]);
  });
});

describe('beacon protobuf (static code)', () => {
  it('round-trips a batch and a signed frame with int64 as numbers', () => {
    const bytes = beacon.v1.BeaconBatch.encode(batch).finish();
    const decoded = beacon.v1.BeaconBatch.decode(bytes);
    expect(decoded.sentAt).toBe(batch.sentAt);
    expect(decoded.events[0]).toMatchObject(event);

    const frame = beacon.v1.SignedBatch.decode(
      beacon.v1.SignedBatch.encode({ keyId: 'k1', t: 1_700_000_000_000, signature: 's', batch: bytes }).finish(),
    );
    expect(frame.t).toBe(1_700_000_000_000);
    expect(Buffer.from(frame.batch).equals(Buffer.from(bytes))).toBe(true);
  });

  it('keeps optional fields absent when not sent', () => {
    const decoded = beacon.v1.Event.decode(beacon.v1.Event.encode({ eventId: 'x', type: EventType.CLICK }).finish());
    expect(decoded.clickId ?? null).toBeNull();
    expect(decoded.valueMicros ?? null).toBeNull();
  });
});
