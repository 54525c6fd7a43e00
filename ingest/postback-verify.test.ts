import { createSecretKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyPostback } from './postback-verify.js';
import { signPostback } from './s2s-signing.js';

const NOW = 1_700_000_000_000;
const EVENT = '0b7c2a4e-5d1f-4c3b-9a8e-7f6d5c4b3a21';
const campaigns: Record<string, { appId: string; secret: string }> = {
  'camp-a': { appId: 'app.a', secret: 'pb-a' },
  'camp-b': { appId: 'app.b', secret: 'pb-b' },
};
const deps = {
  campaign: (id: string) =>
    campaigns[id] && { appId: campaigns[id].appId, secret: createSecretKey(Buffer.from(campaigns[id].secret)) },
};
const body = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    campaign_id: 'camp-a',
    event_id: EVENT,
    user_id: 'u1',
    value_micros: 1_500_000,
    currency: 'CNY',
    occurred_at: NOW - 1_000,
    ...over,
  });

/** A request signed with `secret` at `t`; `raw` is sent as is. */
const req = (raw = body(), secret = 'pb-a', t = NOW, contentType = 'application/json') => ({
  contentType,
  signature: signPostback(raw, secret, t),
  body: Buffer.from(raw),
});

describe('verifyPostback', () => {
  const rows: [string, () => ReturnType<typeof req>, object][] = [
    [
      "a postback signed with its campaign's secret",
      () => req(),
      {
        ok: true,
        value: {
          appId: 'app.a',
          campaignId: 'camp-a',
          eventId: EVENT,
          clickId: '',
          userId: 'u1',
          valueMicros: 1_500_000,
          currency: 'CNY',
          occurredAt: NOW - 1_000,
        },
      },
    ],
    [
      'a click_id instead of an event_id, int64 as a string',
      () => req(body({ event_id: undefined, click_id: EVENT.toUpperCase(), value_micros: '7' })),
      { ok: true, value: { eventId: '', clickId: EVENT, valueMicros: 7 } },
    ],
    [
      'several v1 entries, one valid (rotation)',
      () => ({
        ...req(),
        signature: `${signPostback(body(), 'old', NOW)},v1=${signPostback(body(), 'pb-a', NOW).split('v1=')[1]}`,
      }),
      { ok: true },
    ],
    [
      "app A's campaign signed with app B's campaign secret",
      () => req(body(), 'pb-b'),
      { ok: false, status: 401, error: 'bad_signature' },
    ],
    [
      'a tampered body',
      () => ({ ...req(), body: Buffer.from(body({ user_id: 'u2' })) }),
      { ok: false, status: 401, error: 'bad_signature' },
    ],
    [
      't more than 300 s old',
      () => req(body(), 'pb-a', NOW - 301_000),
      { ok: false, status: 401, error: 'timestamp_too_old' },
    ],
    [
      't more than 300 s ahead',
      () => req(body(), 'pb-a', NOW + 301_000),
      { ok: false, status: 401, error: 'timestamp_in_future' },
    ],
    [
      't with a leading zero',
      () => ({ ...req(), signature: `t=0${NOW},v1=00` }),
      { ok: false, status: 401, error: 'malformed_signature' },
    ],
    [
      'no signature header',
      () => ({ ...req(), signature: '' }),
      { ok: false, status: 401, error: 'missing_signature' },
    ],
    [
      'a campaign with no owner or secret',
      () => req(body({ campaign_id: 'camp-x' })),
      { ok: false, status: 403, error: 'unknown_campaign' },
    ],
    ['another content type', () => req(body(), 'pb-a', NOW, 'text/plain'), { ok: false, status: 415 }],
    [
      'a body that is not UTF-8',
      () => {
        const r = req(body({ user_id: 'é' }));
        r.body[r.body.indexOf(Buffer.from('é')) + 1] = 0x28;
        return r;
      },
      { ok: false, status: 400, error: 'undecodable_body' },
    ],
    ['a body that is not a JSON object', () => req('[1]'), { ok: false, status: 400, error: 'undecodable_body' }],
    ['an unknown field', () => req(body({ bonus: 1 })), { ok: false, status: 400, error: 'undecodable_body' }],
    [
      'both event_id and click_id',
      () => req(body({ click_id: EVENT })),
      { ok: false, status: 400, error: 'invalid_event_id' },
    ],
    [
      'neither event_id nor click_id',
      () => req(body({ event_id: null })),
      { ok: false, status: 400, error: 'invalid_event_id' },
    ],
    [
      'an event_id that is not a UUID',
      () => req(body({ event_id: 'e1' })),
      { ok: false, status: 400, error: 'invalid_event_id' },
    ],
    ['a NUL in user_id', () => req(body({ user_id: 'u\u0000' })), { ok: false, status: 400, error: 'invalid_user_id' }],
    [
      'a lone surrogate in user_id',
      () => req(body({ user_id: '\ud800' })),
      { ok: false, status: 400, error: 'invalid_user_id' },
    ],
    [
      'a negative value_micros',
      () => req(body({ value_micros: -1 })),
      { ok: false, status: 400, error: 'invalid_value_micros' },
    ],
    [
      'a fractional occurred_at',
      () => req(body({ occurred_at: 1.5 })),
      { ok: false, status: 400, error: 'invalid_occurred_at' },
    ],
    [
      'a currency that is not ISO 4217',
      () => req(body({ currency: 'yuan' })),
      { ok: false, status: 400, error: 'invalid_currency' },
    ],
  ];
  it.each(rows)('%s', (_name, request, expected) => {
    expect(verifyPostback(request(), NOW, 300_000, deps)).toMatchObject(expected);
  });
});
