import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../common/log.js';
import type { AdUnit } from './ad-unit.js';
import { createAdmobKeys } from './admob-keys.js';
import { verifyAdmob } from './admob-verify.js';
import { signAdmobQuery } from './s2s-signing.js';

const log = createLogger('t', 'silent');
const pair = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const google = pair();
const other = pair();
const keyList = (entries: [number, typeof google][]) =>
  JSON.stringify({
    keys: entries.map(([keyId, k]) => ({
      keyId,
      pem: k.publicKey.export({ type: 'spki', format: 'pem' }),
      base64: '',
    })),
  });

const EVENT = '0b7c2a4e-5d1f-4c3b-9a8e-7f6d5c4b3a21';
const params = {
  ad_network: '5450213213286189855',
  ad_unit: 'ca-app-pub-1/2',
  custom_data: EVENT,
  reward_amount: 10,
  reward_item: 'coins',
  timestamp: 1_700_000_000_000,
  transaction_id: '18fa792de1bca816048293fc71035638',
  user_id: 'u 1',
};
// Units as registered: one bound to its app's campaign, one registered before migration 0011 (no campaign).
const units = new Map<string, AdUnit>([
  ['ca-app-pub-1/2', { appId: 'app.a', campaignId: 'camp.video' }],
  ['ca-app-pub-1/3', { appId: 'app.a', campaignId: null }],
]);
const signed = (p: Record<string, string | number> = params, keyId = 1, privateKey = google.privateKey) =>
  signAdmobQuery(p, { keyId, privateKey });

function setup(list = keyList([[1, google]])) {
  let loads = 0;
  let now = 0;
  const keys = createAdmobKeys(
    { refreshMs: 86_400_000, refetchMinMs: 60_000 },
    { load: async () => (loads++, list), now: () => now, log },
  );
  const verify = (query: string) => verifyAdmob(query, { keys, adUnit: (unit) => units.get(unit) });
  return { keys, verify, loads: () => loads, advance: (ms: number) => (now += ms) };
}

/** A signed query whose signature's base64 needs padding (DER signatures vary in length). */
function signedNeedingPadding(): string {
  for (;;) {
    const q = signed();
    if (/signature=([^&]+)/.exec(q)![1]!.length % 4 !== 0) return q;
  }
}
/** The signature's base64url text in `query`, with `f` applied. */
const editSignature = (query: string, f: (sig: string) => string) =>
  query.replace(/signature=([^&]+)/, (_, sig: string) => `signature=${f(sig)}`);

/**
 * A callback exactly as Google's server writes it, built without signAdmobQuery: the values
 * percent-encoded on the wire, the signature over the query with its escapes decoded (Google's
 * verifier, Tink's RewardedAdsVerifier, verifies `uri.getQuery()`, the decoded form; '+' stays '+').
 */
function googleQuery(raw: string, decoded: string, keyId = 1): string {
  const sig = sign('sha256', Buffer.from(decoded), { key: google.privateKey, dsaEncoding: 'der' }).toString(
    'base64url',
  );
  return `${raw}&signature=${sig}&key_id=${keyId}`;
}
const WIRE = `ad_network=5450213213286189855&ad_unit=2&custom_data=${EVENT}&reward_amount=1&reward_item=Key%20Doubler&timestamp=1584354656623&transaction_id=19808b2d2660df761d5a3259a3d6fbc6&user_id=erik.boscher%40web.de`;

describe('verifyAdmob against what Google sends', () => {
  const rows: [string, () => string, object][] = [
    [
      'escaped values, signed in their decoded form',
      () => googleQuery(WIRE, decodeURIComponent(WIRE)),
      { ok: true, value: { userId: 'erik.boscher@web.de', rewardItem: 'Key Doubler', eventId: EVENT, appId: 'app.a' } },
    ],
    [
      'a "+" (itself, not a space, as Google\'s verifier reads it)',
      () => googleQuery(WIRE.replace('Key%20Doubler', 'a+b'), decodeURIComponent(WIRE).replace('Key Doubler', 'a+b')),
      { ok: true, value: { rewardItem: 'a+b' } },
    ],
    [
      'the same signature over the raw (still encoded) query',
      () => googleQuery(WIRE, WIRE),
      { ok: false, status: 401, error: 'bad_signature' },
    ],
    // Google signed "...&ad_unit=9&custom_data=<event>&ad_unit=2..." for the attacker's own unit 9, whose app set
    // custom_data "<event>&ad_unit=2"; re-encoding the first '&' would move unit 9 into ad_network's value.
    [
      'a re-encoding that moves a signed "&" into a value (another app\'s ad unit smuggled in custom_data)',
      () => {
        const decoded = `ad_network=5450213213286189855&ad_unit=9&custom_data=${EVENT}&ad_unit=2&reward_amount=1&timestamp=1&transaction_id=t1&user_id=victim`;
        return googleQuery(decoded.replace('&ad_unit=9', '%26ad_unit%3D9'), decoded);
      },
      { ok: false, status: 400, error: 'malformed_query' },
    ],
    [
      'a re-encoding that hides a signed "=" in a name',
      () => googleQuery(WIRE.replace('reward_item=', 'reward_item%3D'), decodeURIComponent(WIRE)),
      { ok: false, status: 400, error: 'malformed_query' },
    ],
  ];
  it.each(rows)('%s', async (_name, query, expected) => {
    const s = setup();
    expect(
      await verifyAdmob(query(), {
        keys: s.keys,
        adUnit: (unit) => (unit === '2' ? units.get('ca-app-pub-1/2') : undefined),
      }),
    ).toMatchObject(expected);
    s.keys.stop();
  });
});

describe('verifyAdmob', () => {
  const rows: [string, () => string, object][] = [
    [
      'a callback as Google signs it',
      () => signed(),
      {
        ok: true,
        value: {
          appId: 'app.a',
          campaignId: 'camp.video',
          keyId: '1',
          eventId: EVENT,
          userId: 'u 1',
          rewardAmount: 10,
          adUnit: 'ca-app-pub-1/2',
        },
      },
    ],
    [
      'its signature padded with "="',
      () => editSignature(signedNeedingPadding(), (s) => s.padEnd(Math.ceil(s.length / 4) * 4, '=')),
      { ok: true },
    ],
    [
      'its padding percent-encoded',
      () => editSignature(signedNeedingPadding(), (s) => s + '%3D'.repeat((4 - (s.length % 4)) % 4)),
      { ok: true },
    ],
    [
      'a tampered parameter',
      () => signed().replace('user_id=u%201', 'user_id=u%202'),
      { ok: false, status: 401, error: 'bad_signature' },
    ],
    [
      'a parameter inserted before the signature',
      () => signed().replace('&signature=', '&level=evil&signature='),
      { ok: false, status: 401, error: 'bad_signature' },
    ],
    [
      'a parameter repeated before the signature',
      () => signed().replace('&signature=', '&user_id=evil&signature='),
      { ok: false, status: 400, error: 'malformed_query' },
    ],
    [
      'a signature by another key under a known key_id',
      () => signed(params, 1, other.privateKey),
      { ok: false, status: 401, error: 'bad_signature' },
    ],
    [
      'a parameter after key_id (unsigned)',
      () => `${signed()}&user_id=evil`,
      { ok: false, status: 401, error: 'malformed_signature' },
    ],
    [
      'key_id before the signature',
      () => signed().replace(/&signature=([^&]+)&key_id=1$/, '&key_id=1&signature=$1'),
      { ok: false, status: 401, error: 'malformed_signature' },
    ],
    [
      'a standard base64 signature (not URL-safe)',
      () => editSignature(signed(), (s) => `${s.slice(0, -1)}%2B`),
      { ok: false, status: 401, error: 'malformed_signature' },
    ],
    ['no signature', () => 'ad_unit=x&user_id=u', { ok: false, status: 401, error: 'missing_signature' }],
    [
      'a valid signature over an unregistered ad unit',
      () => signed({ ...params, ad_unit: 'ca-app-pub-9/9' }),
      { ok: false, status: 403, error: 'unknown_ad_unit' },
    ],
    [
      'a valid signature over a unit registered with no campaign (before migration 0011)',
      () => signed({ ...params, ad_unit: 'ca-app-pub-1/3' }),
      { ok: false, status: 503, error: 'ad_unit_without_campaign' },
    ],
    [
      'a valid signature with no ad unit',
      () => {
        const { ad_unit: _a, ...rest } = params;
        return signed(rest);
      },
      { ok: false, status: 400, error: 'invalid_ad_unit' },
    ],
    [
      'custom_data that is not an event id',
      () => signed({ ...params, custom_data: 'level-3' }),
      { ok: false, status: 400, error: 'invalid_custom_data' },
    ],
    [
      'no transaction_id',
      () => signed({ ...params, transaction_id: '' }),
      { ok: false, status: 400, error: 'invalid_transaction_id' },
    ],
    [
      'an app that set no SSV options (AdMob leaves out custom_data and user_id)',
      () => {
        const { custom_data: _c, user_id: _u, ...rest } = params;
        return signed(rest);
      },
      { ok: false, status: 400, error: 'invalid_custom_data' },
    ],
    [
      'an empty custom_data',
      () => signed({ ...params, custom_data: '' }),
      { ok: false, status: 400, error: 'invalid_custom_data' },
    ],
    [
      'an empty user_id',
      () => signed({ ...params, user_id: '' }),
      { ok: false, status: 400, error: 'invalid_user_id' },
    ],
    [
      'a reward_amount that is not an integer',
      () => signed({ ...params, reward_amount: '1.5' }),
      { ok: false, status: 400, error: 'invalid_reward_amount' },
    ],
    [
      'a NUL in user_id',
      () => signed({ ...params, user_id: 'u\u0000' }),
      { ok: false, status: 400, error: 'malformed_query' },
    ],
  ];
  it.each(rows)('%s', async (_name, query, expected) => {
    expect(await setup().verify(query())).toMatchObject(expected);
  });

  it('lower-cases the event id, as beacons do', async () => {
    expect(await setup().verify(signed({ ...params, custom_data: EVENT.toUpperCase() }))).toMatchObject({
      ok: true,
      value: { eventId: EVENT },
    });
  });

  it('re-fetches the key list once for an unknown key_id, at most once a minute', async () => {
    const s = setup();
    await s.keys.started;
    expect(await s.verify(signed(params, 7))).toMatchObject({ ok: false, status: 403, error: 'unknown_key' });
    expect(s.loads()).toBe(1); // the list was fetched less than a minute ago, at start
    s.advance(60_000);
    expect(await s.verify(signed(params, 7))).toMatchObject({ ok: false, status: 403, error: 'unknown_key' });
    expect(s.loads()).toBe(2);
    expect(await s.verify(signed(params, 7))).toMatchObject({ status: 403 });
    expect(s.loads()).toBe(2);
    s.advance(60_000);
    expect(await s.verify(signed(params, 8))).toMatchObject({ status: 403 });
    expect(s.loads()).toBe(3);
    expect(await s.verify(signed())).toMatchObject({ ok: true }); // a known key never fetches
    expect(s.loads()).toBe(3);
    s.keys.stop();
  });

  it('verifies with a key that the re-fetch brought (rotation)', async () => {
    let list = keyList([[1, google]]);
    let now = 0;
    const keys = createAdmobKeys(
      { refreshMs: 86_400_000, refetchMinMs: 60_000 },
      { load: async () => list, now: () => now, log },
    );
    await keys.started;
    list = keyList([
      [1, google],
      [2, other],
    ]);
    now += 60_000;
    expect(
      await verifyAdmob(signed(params, 2, other.privateKey), { keys, adUnit: () => units.get('ca-app-pub-1/2') }),
    ).toMatchObject({ ok: true, value: { keyId: '2' } });
    keys.stop();
  });

  it('answers 503 while the key list cannot be loaded, and keeps the old list when a refresh fails', async () => {
    let fail = true;
    let now = 0;
    const keys = createAdmobKeys(
      { refreshMs: 86_400_000, refetchMinMs: 60_000 },
      {
        load: async () => {
          if (fail) throw new Error('offline');
          return keyList([[1, google]]);
        },
        now: () => now,
        log,
      },
    );
    await keys.started;
    const verify = (q: string) => verifyAdmob(q, { keys, adUnit: () => units.get('ca-app-pub-1/2') });
    expect(await verify(signed())).toMatchObject({ ok: false, status: 503, error: 'keys_unavailable' });
    fail = false;
    now += 60_000;
    expect(await verify(signed())).toMatchObject({ ok: true });
    fail = true;
    now += 60_000;
    expect(await verify(signed(params, 5))).toMatchObject({ status: 503 }); // unknown, and the list could not be checked
    expect(await verify(signed())).toMatchObject({ ok: true }); // the old list still verifies
    keys.stop();
  });
});
