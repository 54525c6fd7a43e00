// Strings that cannot be stored as sent (not UTF-8) are found while decoding: in an event, only that
// event is rejected; in app_id or sdk, the request.
import { describe, expect, it } from 'vitest';
import type { BeaconEvent } from '../schemas/beacon-json.js';
import { beacon } from '../schemas/gen/messages.js';
import { decodeBody } from './decode.js';
import { validateBatch } from './validate.js';
import { beaconEvent, NOW } from '../test/beacon-event.js';

const now = NOW;
const ok = beaconEvent;
const none = { appId: '', sdk: '', sentAt: 0, events: [], rejected: [] };

describe('decodeBody: text that is not UTF-8', () => {
  // 'é' is c3 a9 in UTF-8; c3 28 is not UTF-8. Encode with an 'é' where the bad bytes go, then break it.
  function protobuf(b: { appId?: string; sdk?: string; events: BeaconEvent[] }) {
    const bytes = Buffer.from(beacon.v1.BeaconBatch.encode({ appId: 'app1', sdk: 's', sentAt: now, ...b }).finish());
    const at = bytes.indexOf(Buffer.from('é'));
    if (at >= 0) bytes[at + 1] = 0x28;
    return bytes;
  }
  // Over HTTP the body is a Buffer; a WebSocket frame's batch is a plain Uint8Array. Both decode alike.
  const bodies = (bytes: Buffer) =>
    [
      ['Buffer', bytes],
      ['Uint8Array', new Uint8Array(bytes)],
    ] as const;

  it.each([
    ['user_id', { userId: 'é' }, 'user_id: not UTF-8'],
    ['click_id', { clickId: 'é' }, 'click_id: not UTF-8'],
    ['attrs key', { attrs: { a: 'b', é: 'v' } }, 'attrs: key not UTF-8'],
    ['attrs value', { attrs: { a: 'b', k: 'é' } }, 'attrs: value not UTF-8'],
  ])('rejects only the event whose %s is not UTF-8', (_n, over, reason) => {
    for (const [, body] of bodies(protobuf({ events: [ok(), ok(over)] }))) {
      const d = decodeBody('application/x-protobuf', body);
      expect(d).toMatchObject({
        ok: true,
        batch: { events: [{ userId: 'u' }, null], rejected: [{ index: 1, reason }] },
      });
      expect(validateBatch(d.ok ? d.batch : none, 'app1', now)).toMatchObject({
        ok: true,
        accepted: [{ index: 0 }],
        rejected: [{ index: 1, reason }],
      });
    }
  });

  it.each([
    ['app_id', { appId: 'appé' }, 'invalid_app_id'],
    ['sdk', { sdk: 'iosé' }, 'invalid_sdk'],
  ])('refuses the request with 400 when its %s is not UTF-8', (_n, over, error) => {
    for (const [, body] of bodies(protobuf({ ...over, events: [ok()] }))) {
      expect(decodeBody('application/x-protobuf', body)).toMatchObject({ ok: false, status: 400, error });
    }
  });

  it('keeps a U+FFFD the device sent as such', () => {
    const d = decodeBody('application/x-protobuf', protobuf({ sdk: 'ios\uFFFD', events: [ok({ userId: '\uFFFD' })] }));
    expect(d).toMatchObject({ ok: true, batch: { sdk: 'ios\uFFFD', events: [{ userId: '\uFFFD' }], rejected: [] } });
  });

  it('refuses a JSON body that is not UTF-8 with 400 (it is not a JSON text)', () => {
    const body = Buffer.from(JSON.stringify({ appId: 'app1', sdk: 's', sentAt: now, events: [ok({ userId: 'é' })] }));
    body[body.indexOf(Buffer.from('é')) + 1] = 0x28;
    expect(decodeBody('application/json', body)).toMatchObject({
      ok: false,
      status: 400,
      error: 'undecodable_body',
      message: expect.stringMatching(/UTF-8/),
    });
  });

  it('maps a JSON lone surrogate escape in one event, for validation to reject that event alone', () => {
    const body = Buffer.from(
      JSON.stringify({ appId: 'app1', sdk: 's', sentAt: now, events: [ok({ userId: '\uD800' }), ok()] }),
    );
    expect(body.toString()).toContain('\\ud800');
    const d = decodeBody('application/json', body);
    expect(validateBatch(d.ok ? d.batch : none, 'app1', now)).toMatchObject({
      ok: true,
      accepted: [{ index: 1 }],
      rejected: [{ index: 0, reason: 'user_id: contains a lone UTF-16 surrogate' }],
    });
  });
});
