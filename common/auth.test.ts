import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { authenticate, isUserId, mayActFor, requestedPerson, signAdvertiserToken, signUserToken } from './auth.js';
import { parsePerson, personKey } from './person.js';
import { createSecretBox } from './secretbox.js';

const secret = 'x'.repeat(32); // the platform's own key (REWARDS_TOKEN_SECRET)
/** Each app's live token secrets; app.a has two (a rotation), app.c none. */
const appSecrets: Record<string, string[]> = {
  'app.a': ['a1'.repeat(16), 'a2'.repeat(16)],
  'app.b': ['b1'.repeat(16)],
};
const config = {
  platformSecret: secret,
  appSecrets: (appId: string) => appSecrets[appId] ?? [],
  operatorToken: 'operator-token-0123',
  maxTtlS: 3_600,
  nowMs: 1_000_000_000_000,
};

const nowS = config.nowMs / 1000;
const b64 = (text: string) => Buffer.from(text).toString('base64url');
/** A token with any header and payload text, signed with HS256 under `key`. */
function forge(header: string, payload: string, key = secret): string {
  const signed = `${b64(header)}.${b64(payload)}`;
  return `${signed}.${createHmac('sha256', key).update(signed).digest('base64url')}`;
}
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const HS256 = '{"alg":"HS256","typ":"JWT"}';
const claims = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ sub: 'u1', app: 'app.a', iat: nowS, exp: nowS + 60, ...over });
const u1 = { appId: 'app.a', userId: 'u1' };
const accepted = { ok: true, principal: { kind: 'user', person: u1 } };
const invalid = { ok: false, error: 'invalid_token' };

describe('authenticate', () => {
  const token = signUserToken(secret, u1, { ttlS: 60, nowMs: config.nowMs });
  const [header, payload, signature] = token.split('.') as [string, string, string];
  it.each([
    ['accepts a user token', `Bearer ${token}`, accepted],
    ['accepts a header without typ (as jose writes it)', `Bearer ${forge('{"alg":"HS256"}', claims())}`, accepted],
    ['accepts the operator token', 'Bearer operator-token-0123', { ok: true, principal: { kind: 'operator' } }],
    ['accepts a lifetime of exactly the maximum', `Bearer ${forge(HS256, claims({ exp: nowS + 3_600 }))}`, accepted],
    ['accepts an iat a little ahead (clock skew)', `Bearer ${forge(HS256, claims({ iat: nowS + 10 }))}`, accepted],
    ['accepts an nbf that has passed', `Bearer ${forge(HS256, claims({ nbf: nowS - 1 }))}`, accepted],
    ['rejects a missing header', undefined, { ok: false, error: 'missing_token' }],
    ['rejects a scheme other than Bearer', `Basic ${token}`, { ok: false, error: 'missing_token' }],
    [
      'rejects a token signed with another secret',
      `Bearer ${signUserToken('y'.repeat(32), u1, { ttlS: 60, nowMs: config.nowMs })}`,
      invalid,
    ],
    [
      'rejects a token whose payload was changed',
      `Bearer ${header}.${b64(claims({ sub: 'u2' }))}.${signature}`,
      invalid,
    ],
    [
      'rejects a token whose app was changed',
      `Bearer ${header}.${b64(claims({ app: 'app.b' }))}.${signature}`,
      invalid,
    ],
    ['rejects an alg=none token', `Bearer ${b64('{"alg":"none"}')}.${payload}.`, invalid],
    [
      'rejects an alg=none token with a signature',
      `Bearer ${b64('{"alg":"none","typ":"JWT"}')}.${payload}.${signature}`,
      invalid,
    ],
    ['rejects an RS256 header', `Bearer ${forge('{"alg":"RS256","typ":"JWT"}', claims())}`, invalid],
    ['rejects an HS512 header', `Bearer ${forge('{"alg":"HS512","typ":"JWT"}', claims())}`, invalid],
    ['rejects a lower-case alg', `Bearer ${forge('{"alg":"hs256","typ":"JWT"}', claims())}`, invalid],
    ['rejects another typ', `Bearer ${forge('{"alg":"HS256","typ":"at+jwt"}', claims())}`, invalid],
    [
      'rejects header parameters beyond alg and typ',
      `Bearer ${forge('{"alg":"HS256","typ":"JWT","crit":["exp"]}', claims())}`,
      invalid,
    ],
    ['rejects a fourth segment', `Bearer ${token}.${signature}`, invalid],
    ['rejects two segments', `Bearer ${header}.${payload}`, invalid],
    ['rejects base64 padding', `Bearer ${token}=`, invalid],
    // The last character of 32 bytes in base64url carries 2 unused bits: set, they decode to the same bytes.
    [
      'rejects a non-canonical base64url signature',
      `Bearer ${header}.${payload}.${signature.slice(0, -1)}${B64URL[B64URL.indexOf(signature.at(-1)!) | 1]}`,
      invalid,
    ],
    ['rejects a payload that is not JSON', `Bearer ${forge(HS256, 'u1')}`, invalid],
    ['rejects a payload that is a JSON array', `Bearer ${forge(HS256, '["u1"]')}`, invalid],
    [
      'rejects a payload that is not UTF-8',
      `Bearer ${b64(HS256)}.${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}.${createHmac('sha256', secret)
        .update(`${b64(HS256)}.${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}`)
        .digest('base64url')}`,
      invalid,
    ],
    [
      'rejects a claim given twice',
      `Bearer ${forge(HS256, `{"sub":"u2","iat":${nowS},"exp":${nowS + 60},"sub":"u1"}`)}`,
      invalid,
    ],
    ['rejects a token without exp', `Bearer ${forge(HS256, claims({ exp: undefined }))}`, invalid],
    ['rejects a token without iat', `Bearer ${forge(HS256, claims({ iat: undefined }))}`, invalid],
    ['rejects a lifetime over the maximum', `Bearer ${forge(HS256, claims({ exp: nowS + 3_601 }))}`, invalid],
    [
      'rejects a lifetime over the maximum even when iat is old',
      `Bearer ${forge(HS256, claims({ iat: nowS - 86_400 * 365, exp: nowS + 60 }))}`,
      invalid,
    ],
    ['rejects an iat in the future', `Bearer ${forge(HS256, claims({ iat: nowS + 120, exp: nowS + 180 }))}`, invalid],
    ['rejects an nbf in the future', `Bearer ${forge(HS256, claims({ nbf: nowS + 120 }))}`, invalid],
    ['rejects an exp that is a string', `Bearer ${forge(HS256, claims({ exp: String(nowS + 60) }))}`, invalid],
    ['rejects an iat that is a string', `Bearer ${forge(HS256, claims({ iat: String(nowS) }))}`, invalid],
    ['rejects an nbf that is not a number', `Bearer ${forge(HS256, claims({ nbf: null }))}`, invalid],
    [
      'rejects an exp that overflows to Infinity',
      `Bearer ${forge(HS256, `{"sub":"u1","iat":${nowS},"exp":1e400}`)}`,
      invalid,
    ],
    ['rejects a sub that is not a string', `Bearer ${forge(HS256, claims({ sub: 42 }))}`, invalid],
    ['rejects a token without sub', `Bearer ${forge(HS256, claims({ sub: undefined }))}`, invalid],
    ['rejects an empty sub', `Bearer ${forge(HS256, claims({ sub: '' }))}`, invalid],
    ['rejects a sub over 64 characters', `Bearer ${forge(HS256, claims({ sub: 'u'.repeat(65) }))}`, invalid],
    ['rejects a sub with a NUL', `Bearer ${forge(HS256, claims({ sub: 'u\u0000' }))}`, invalid],
    ['rejects a sub with a lone surrogate', `Bearer ${forge(HS256, claims({ sub: 'u\ud800' }))}`, invalid],
    ['rejects a sub with a slash', `Bearer ${forge(HS256, claims({ sub: 'u/1' }))}`, invalid],
    // A token of before issue 22 named a user but no app: whose "u1" it meant is unknown, so it is refused.
    ['rejects a token without app', `Bearer ${forge(HS256, claims({ app: undefined }))}`, invalid],
    ['rejects an app that is not a string', `Bearer ${forge(HS256, claims({ app: 7 }))}`, invalid],
    ['rejects an app with a ":"', `Bearer ${forge(HS256, claims({ app: 'a:b' }))}`, invalid],
    ['rejects an app over 64 characters', `Bearer ${forge(HS256, claims({ app: 'a'.repeat(65) }))}`, invalid],
  ])('%s', (_name, authorization, expected) => {
    expect(authenticate(authorization, config)).toMatchObject(expected);
  });

  // CONTRACTS §8: a token binds a person only if no one but that person's app (and the platform) can mint it.
  const mint = (key: string, appId: string) =>
    `Bearer ${signUserToken(key, { appId, userId: 'u1' }, { ttlS: 60, nowMs: config.nowMs })}`;
  const asPerson = (appId: string) => ({ ok: true, principal: { kind: 'user', person: { appId, userId: 'u1' } } });
  it.each([
    ["accepts app A's secret for app A's user", mint('a1'.repeat(16), 'app.a'), asPerson('app.a')],
    ["accepts app A's second secret (a rotation)", mint('a2'.repeat(16), 'app.a'), asPerson('app.a')],
    ["refuses app A's secret for app B's user", mint('a1'.repeat(16), 'app.b'), invalid],
    ["refuses app B's secret for app A's user", mint('b1'.repeat(16), 'app.a'), invalid],
    ["refuses app A's secret for an app with no secret", mint('a1'.repeat(16), 'app.c'), invalid],
    ["refuses a revoked secret (no longer among the app's)", mint('a0'.repeat(16), 'app.a'), invalid],
    ['accepts the platform secret for every app', mint(secret, 'app.b'), asPerson('app.b')],
    ['accepts the platform secret for an app with no secret', mint(secret, 'app.c'), asPerson('app.c')],
  ])('%s', (_name, authorization, expected) => {
    expect(authenticate(authorization, config)).toMatchObject(expected);
  });

  it('asks for the secrets of the app the token names, and of no other', () => {
    const asked: string[] = [];
    authenticate(mint('a1'.repeat(16), 'app.b'), {
      ...config,
      appSecrets: (appId) => (asked.push(appId), appSecrets[appId] ?? []),
    });
    expect(asked).toEqual(['app.b']);
  });

  it('says why a token was refused', () => {
    expect(authenticate(`Bearer ${forge(HS256, claims({ exp: nowS + 3_601 }))}`, config)).toEqual({
      ok: false,
      error: 'invalid_token',
      reason: 'the token lives longer than 3600 s (exp - iat)',
    });
  });

  it('rejects an expired token', () => {
    expect(authenticate(`Bearer ${token}`, { ...config, nowMs: config.nowMs + 60_000 })).toMatchObject({
      ok: false,
      error: 'token_expired',
    });
  });

  it('lets a user act only for themselves, in their own app, and the operator only read', () => {
    const user = { kind: 'user', person: u1 } as const;
    expect([
      mayActFor(user, u1, true),
      mayActFor(user, { ...u1, userId: 'u2' }, false),
      mayActFor(user, { ...u1, appId: 'app.b' }, false),
    ]).toEqual([true, false, false]);
    expect([mayActFor({ kind: 'operator' }, u1, false), mayActFor({ kind: 'operator' }, u1, true)]).toEqual([
      true,
      false,
    ]);
  });
});

describe('advertiser tokens', () => {
  const adv = (over: Record<string, unknown> = {}) =>
    JSON.stringify({ sub: 'adv.1', role: 'advertiser', iat: nowS, exp: nowS + 60, ...over });
  const asAdvertiser = { ok: true, principal: { kind: 'advertiser', advertiserId: 'adv.1' } };
  it.each([
    [
      'accepts one signed with the platform key',
      `Bearer ${signAdvertiserToken(secret, 'adv.1', { ttlS: 60, nowMs: config.nowMs })}`,
      asAdvertiser,
    ],
    [
      'refuses one signed with another key',
      `Bearer ${signAdvertiserToken('y'.repeat(32), 'adv.1', { ttlS: 60, nowMs: config.nowMs })}`,
      invalid,
    ],
    // An app's backend mints its users' tokens; it can never mint an advertiser's.
    ["refuses one signed with an app's secret", `Bearer ${forge(HS256, adv(), 'a1'.repeat(16))}`, invalid],
    [
      "refuses one signed with an app's secret that also names the app",
      `Bearer ${forge(HS256, adv({ app: 'app.a' }), 'a1'.repeat(16))}`,
      invalid,
    ],
    [
      'refuses one that also names an app (a user token with a role)',
      `Bearer ${forge(HS256, adv({ app: 'app.a' }))}`,
      invalid,
    ],
    ['refuses another role', `Bearer ${forge(HS256, adv({ role: 'admin' }))}`, invalid],
    ['refuses a role that is not a string', `Bearer ${forge(HS256, adv({ role: null }))}`, invalid],
    ['refuses a user token given a role', `Bearer ${forge(HS256, claims({ role: 'user' }))}`, invalid],
    ['refuses an advertiser id with a ":"', `Bearer ${forge(HS256, adv({ sub: 'a:b' }))}`, invalid],
    ['refuses an advertiser id over 64 characters', `Bearer ${forge(HS256, adv({ sub: 'a'.repeat(65) }))}`, invalid],
    ['refuses a sub that is not a string', `Bearer ${forge(HS256, adv({ sub: 7 }))}`, invalid],
    ['refuses one without exp', `Bearer ${forge(HS256, adv({ exp: undefined }))}`, invalid],
    ['refuses a lifetime over the maximum', `Bearer ${forge(HS256, adv({ exp: nowS + 3_601 }))}`, invalid],
    ['refuses an iat in the future', `Bearer ${forge(HS256, adv({ iat: nowS + 120, exp: nowS + 180 }))}`, invalid],
    [
      'refuses a claim given twice',
      `Bearer ${forge(HS256, `{"sub":"adv.2","role":"advertiser","iat":${nowS},"exp":${nowS + 60},"sub":"adv.1"}`)}`,
      invalid,
    ],
    [
      'refuses an expired one',
      `Bearer ${forge(HS256, adv({ iat: nowS - 120, exp: nowS - 60 }))}`,
      { ok: false, error: 'token_expired' },
    ],
  ])('%s', (_name, authorization, expected) => {
    expect(authenticate(authorization, config)).toMatchObject(expected);
  });

  it("is never a user token, and a user token never an advertiser's", () => {
    // A user whose id is an advertiser's id is still that user, of its app.
    expect(
      authenticate(
        `Bearer ${signUserToken(secret, { appId: 'app.a', userId: 'adv.1' }, { ttlS: 60, nowMs: config.nowMs })}`,
        config,
      ),
    ).toMatchObject({ ok: true, principal: { kind: 'user', person: { appId: 'app.a', userId: 'adv.1' } } });
    const principal = { kind: 'advertiser', advertiserId: 'u1' } as const;
    expect([mayActFor(principal, u1, false), mayActFor(principal, u1, true)]).toEqual([false, false]);
    expect(requestedPerson(principal, 'u1', 'app.a')).toMatchObject({ ok: false, status: 403, error: 'forbidden' });
    expect(requestedPerson(principal, 'u1', undefined)).toMatchObject({ ok: false, status: 403, error: 'forbidden' });
  });
});

describe('requestedPerson', () => {
  const user = { kind: 'user', person: u1 } as const;
  it.each([
    ["a user token: the token's app", user, undefined, { ok: true, person: { appId: 'app.a', userId: 'u9' } }],
    ['a user token with its own App-Id', user, 'app.a', { ok: true, person: { appId: 'app.a', userId: 'u9' } }],
    ['a user token with another App-Id', user, 'app.b', { ok: false, status: 403, error: 'forbidden' }],
    [
      'the operator with App-Id',
      { kind: 'operator' } as const,
      'app.b',
      { ok: true, person: { appId: 'app.b', userId: 'u9' } },
    ],
    [
      'the operator without App-Id',
      { kind: 'operator' } as const,
      undefined,
      { ok: false, status: 400, error: 'missing_app_id' },
    ],
    [
      'the operator with a malformed App-Id',
      { kind: 'operator' } as const,
      'a:b',
      { ok: false, status: 400, error: 'invalid_app_id' },
    ],
    // App ids are case-sensitive and matched whole: no other spelling of the token's app is its app.
    ['a user token with its App-Id in other case', user, 'APP.A', { ok: false, status: 403, error: 'forbidden' }],
    ['a user token with its App-Id padded', user, ' app.a', { ok: false, status: 403, error: 'forbidden' }],
    ['a user token with an empty App-Id', user, '', { ok: false, status: 403, error: 'forbidden' }],
    [
      'a user token with two App-Id headers (joined)',
      user,
      'app.a, app.b',
      { ok: false, status: 403, error: 'forbidden' },
    ],
    [
      'the operator with two App-Id headers (joined)',
      { kind: 'operator' } as const,
      'app.a, app.b',
      { ok: false, status: 400, error: 'invalid_app_id' },
    ],
    [
      'the operator with an empty App-Id',
      { kind: 'operator' } as const,
      '',
      { ok: false, status: 400, error: 'invalid_app_id' },
    ],
  ])('%s', (_name, principal, header, expected) => {
    expect(requestedPerson(principal, 'u9', header)).toMatchObject(expected);
  });
});

describe('person keys', () => {
  it.each([
    [{ appId: 'app.a', userId: 'u1' }, 'app.a:u1'],
    [{ appId: 'a', userId: 'b:c' }, 'a:b:c'], // the first ':' splits: app ids hold none
    [{ appId: 'a-b_c.d', userId: ':' }, 'a-b_c.d::'],
  ])('%j <-> %s', (person, key) => {
    expect(personKey(person)).toBe(key);
    expect(parsePerson(key)).toEqual(person);
  });

  it.each(['u1', ':u1', 'a b:u1', `${'a'.repeat(65)}:u1`])('%j names no person', (key) => {
    expect(parsePerson(key)).toBeUndefined();
  });
});

describe('isUserId', () => {
  it.each([
    ['u1', true],
    ['a:b', true],
    ['用户', true],
    ['u'.repeat(64), true],
    ['', false],
    ['u'.repeat(65), false],
    ['a/b', false],
    ['a\u0000', false],
    ['a\ud800', false],
    ['\udc00a', false],
  ])('%j -> %s', (id, expected) => {
    expect(isUserId(id)).toBe(expected);
  });
});

describe('secret box', () => {
  const box = createSecretBox(Buffer.alloc(32, 1));
  it('opens what it sealed, and refuses an altered box or another key', () => {
    const sealed = box.seal('oABC123');
    expect(box.open(sealed)).toBe('oABC123');
    expect(sealed.includes(Buffer.from('oABC123'))).toBe(false);
    const altered = Buffer.from(sealed);
    altered[altered.length - 1]! ^= 1;
    expect(() => box.open(altered)).toThrow();
    expect(() => createSecretBox(Buffer.alloc(32, 2)).open(sealed)).toThrow();
    expect(box.mac('x').equals(box.mac('x'))).toBe(true);
  });
});
