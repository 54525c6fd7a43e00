import { describe, expect, it } from 'vitest';
import type { BeaconEvent, EventType } from '../schemas/beacon-json.js';
import { beacon } from '../schemas/gen/messages.js';
import { decodeBody } from './decode.js';
import { validateBatch, type AcceptedEvent } from './validate.js';
import { beaconEvent, NOW } from '../test/beacon-event.js';

const now = NOW;
const ok = beaconEvent;
const batch = (events: (BeaconEvent | null)[], over = {}) => ({
  appId: 'app1',
  sdk: 'ios/1',
  sentAt: now,
  events,
  rejected: [],
  ...over,
});

describe('validateBatch: batch-level limits', () => {
  it.each([
    ["another app than the key's", batch([ok()], { appId: 'app2' }), 401, 'app_mismatch'],
    ['a long sdk', batch([ok()], { sdk: 'x'.repeat(65) }), 400, 'invalid_sdk'],
    ['no sent_at', batch([ok()], { sentAt: 0 }), 400, 'invalid_sent_at'],
    ['no events', batch([]), 400, 'no_events'],
    ['501 events', batch(Array.from({ length: 501 }, () => ok())), 413, 'too_many_events'],
  ])('rejects %s', (_n, b, status, error) => {
    expect(validateBatch(b, 'app1', now)).toMatchObject({ ok: false, status, error });
  });

  // Postgres refuses NUL in text, and a lone surrogate has no UTF-8 form: neither could be stored as sent.
  it.each([
    ['a NUL in app_id', { appId: 'app1\u0000' }, 'invalid_app_id'],
    ['a lone surrogate in app_id', { appId: 'app1\uD800' }, 'invalid_app_id'],
    ['a NUL in sdk', { sdk: 'ios\u0000' }, 'invalid_sdk'],
    ['a lone surrogate in sdk', { sdk: 'ios\uDC00/1' }, 'invalid_sdk'],
  ])('refuses the request with 400 for %s', (_n, over, error) => {
    expect(validateBatch(batch([ok()], over), 'app1', now)).toMatchObject({ ok: false, status: 400, error });
  });

  it('rejects a bad app_id (a key can only belong to a valid one)', () => {
    expect(validateBatch(batch([ok()], { appId: 'bad app' }), 'bad app', now)).toMatchObject({
      ok: false,
      status: 400,
      error: 'invalid_app_id',
    });
  });
});

describe('validateBatch: events', () => {
  it.each([
    ['a bad UUID', { eventId: '6f1c2a8e3b4d4c5e8f901a2b3c4d5e6f' }, 'event_id: not a canonical UUID'],
    ['type 0', { type: 0 }, 'type: unknown event type'],
    ['type 9', { type: 9 as EventType }, 'type: unknown event type'],
    ['an empty user_id', { userId: '' }, 'user_id: must be 1..64 characters'],
    ['a 65-char placement_id', { placementId: 'p'.repeat(65) }, 'placement_id: must be 1..64 characters'],
    ['no occurred_at', { occurredAt: 0 }, 'occurred_at: missing'],
    ['an event 8 days old', { occurredAt: now - 8 * 86_400_000 }, 'occurred_at: more than 7 days old'],
    ['an event 11 minutes ahead', { occurredAt: now + 660_000 }, 'occurred_at: more than 10 minutes in the future'],
    ['a bad click_id', { clickId: 'click-1' }, 'click_id: not a canonical UUID'],
    ['a negative value', { valueMicros: -1 }, 'value_micros: negative'],
    ['a bad currency', { currency: 'yuan' }, 'currency: not an ISO 4217 code'],
    [
      '17 attrs',
      { attrs: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
      'attrs: more than 16 entries',
    ],
    ['a 33-char attr key', { attrs: { ['k'.repeat(33)]: 'v' } }, 'attrs: key must be 1..32 characters'],
    ['a 257-char attr value', { attrs: { k: 'v'.repeat(257) } }, 'attrs.k: value longer than 256 characters'],
    ['a NUL user_id', { userId: '\u0000' }, 'user_id: contains NUL'],
    ['a NUL inside device_id', { deviceId: 'd\u0000d' }, 'device_id: contains NUL'],
    [
      'a lone high surrogate in campaign_id',
      { campaignId: 'c\uD800' },
      'campaign_id: contains a lone UTF-16 surrogate',
    ],
    ['a lone low surrogate in creative_id', { creativeId: '\uDC00c' }, 'creative_id: contains a lone UTF-16 surrogate'],
    [
      'reversed surrogates in placement_id',
      { placementId: '\uDE00\uD83D' },
      'placement_id: contains a lone UTF-16 surrogate',
    ],
    ['a NUL in click_id', { clickId: '7f1c2a8e-3b4d-4c5e-8f90-1a2b3c4d5e6\u0000' }, 'click_id: contains NUL'],
    ['a NUL in currency', { currency: 'CN\u0000' }, 'currency: contains NUL'],
    ['a NUL attr key', { attrs: { 'k\u0000': 'v' } }, 'attrs: key contains NUL'],
    ['a lone surrogate attr key', { attrs: { '\uD800': 'v' } }, 'attrs: key contains a lone UTF-16 surrogate'],
    ['a NUL attr value', { attrs: { k: '\u0000' } }, 'attrs.k: value contains NUL'],
    ['a lone surrogate attr value', { attrs: { k: 'v\uDBFF' } }, 'attrs.k: value contains a lone UTF-16 surrogate'],
  ])('rejects only the event with %s', (_n, over, reason) => {
    const v = validateBatch(batch([ok(), ok(over as Partial<BeaconEvent>)]), 'app1', now);
    expect(v).toMatchObject({ ok: true, rejected: [{ index: 1, reason }] });
    if (v.ok) expect(v.accepted).toHaveLength(1);
  });

  it('accepts every optional field at its limit and lowercases the event id', () => {
    const e = ok({
      eventId: '6F1C2A8E-3B4D-4C5E-8F90-1A2B3C4D5E6F',
      clickId: '7f1c2a8e-3b4d-4c5e-8f90-1a2b3c4d5e6f',
      valueMicros: 0,
      currency: 'CNY',
      attrs: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`.padEnd(32, 'x'), 'v'.repeat(256)])),
    });
    const v = validateBatch(batch([e]), 'app1', now);
    expect(v.ok && v.accepted[0]?.event.eventId).toBe('6f1c2a8e-3b4d-4c5e-8f90-1a2b3c4d5e6f');
  });

  it('accepts text outside the Basic Multilingual Plane (surrogates in pairs) and U+FFFD sent as such', () => {
    const v = validateBatch(
      batch([ok({ userId: '用户😀', deviceId: '\uFFFD', attrs: { '🎯': '𝄞' } })], { sdk: 'ios/😀' }),
      'app1',
      now,
    );
    expect(v).toMatchObject({ ok: true, rejected: [] });
  });

  it("keeps the JSON mapping's rejections with their indexes, in order", () => {
    const v = validateBatch(
      { ...batch([null, ok({ userId: '' }), ok()]), rejected: [{ index: 0, reason: 'type: unknown event type "X"' }] },
      'app1',
      now,
    );
    expect(v).toMatchObject({ ok: true, rejected: [{ index: 0 }, { index: 1 }] });
  });
});

describe('validateBatch: clock-skew correction', () => {
  const times = (v: ReturnType<typeof validateBatch>) =>
    v.ok ? v.accepted.map((a: AcceptedEvent) => a.eventTime) : [];

  it('moves event time by (received_at - sent_at)', () => {
    // The device clock runs 1 h slow: it sent at now - 1 h, the event happened 10 s before sending.
    const v = validateBatch(
      batch([ok({ occurredAt: now - 3_600_000 - 10_000 })], { sentAt: now - 3_600_000 }),
      'app1',
      now,
    );
    expect(times(v)).toEqual([now - 10_000]);
  });

  it('judges the age limits on the corrected time', () => {
    // 8 days old on a device whose clock is 2 days slow: 6 days old in truth, accepted.
    const v = validateBatch(
      batch([ok({ occurredAt: now - 8 * 86_400_000 })], { sentAt: now - 2 * 86_400_000 }),
      'app1',
      now,
    );
    expect(times(v)).toEqual([now - 6 * 86_400_000]);
  });

  it('clamps the correction to the maximum skew', () => {
    const v = validateBatch(
      batch([ok({ occurredAt: now + 100_000 })], { sentAt: now + 30 * 86_400_000 }),
      'app1',
      now,
      { maxEvents: 500, maxSkewMs: 60_000, maxAgeMs: 7 * 86_400_000, maxFutureMs: 600_000 },
    );
    expect(v).toMatchObject({ ok: true, skewMs: -60_000 });
    expect(times(v)).toEqual([now + 40_000]);
  });
});

describe('decodeBody', () => {
  it('decodes protobuf and JSON to the same batch', () => {
    const b = { appId: 'app1', sdk: 's', sentAt: now, events: [ok()] };
    const pb = decodeBody('application/x-protobuf', beacon.v1.BeaconBatch.encode(b).finish());
    const json = decodeBody(
      'application/json; charset=utf-8',
      Buffer.from(JSON.stringify({ ...b, sentAt: String(now), events: [{ ...ok(), type: 'CLICK' }] })),
    );
    expect(pb.ok && json.ok).toBe(true);
    // protobufjs gives every decoded event an attrs map; the JSON mapping leaves absent fields out.
    if (pb.ok && json.ok) expect({ attrs: {}, ...json.batch.events[0] }).toEqual({ ...pb.batch.events[0] });
  });

  it.each([
    ['text/plain', 'x', 415, 'unsupported_media_type'],
    [undefined, 'x', 415, 'unsupported_media_type'],
    ['application/x-protobuf', '\xff\xff\xff', 400, 'undecodable_body'],
    ['application/json', '{', 400, 'undecodable_body'],
  ])('refuses %s body %j', (type, body, status, error) => {
    expect(decodeBody(type, Buffer.from(body, 'latin1'))).toMatchObject({ ok: false, status, error });
  });

  // BeaconBatch field 4 (an event) holding Event field 4 (user_id), a string of 2 bytes.
  it.each([
    ["an event whose field runs past the event's length", [0x22, 0x03, 0x22, 0x02, 0x61, 0x62]],
    ['an event longer than the body', [0x22, 0x09, 0x22, 0x02, 0x61, 0x62]],
  ])('refuses protobuf with %s', (_, bytes) => {
    expect(decodeBody('application/x-protobuf', Uint8Array.from(bytes))).toMatchObject({
      ok: false,
      status: 400,
      error: 'undecodable_body',
    });
  });
});
