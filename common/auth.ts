// Who is calling: `Authorization: Bearer <token>` is the operator token from config, a user token (an
// HS256 JWT whose `sub` and `app` claims name the one person it may act for, signed with a secret of
// that app or the platform's own), or an advertiser token (`sub` the advertiser, `role: advertiser`,
// the platform's key only). Decoded strictly (RFC 8725): HS256 only, canonical base64url, each claim
// once, numeric `exp` and `iat` required, a bounded lifetime; one kind is never read as the other.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isAppId, isUserId, type Person } from './person.js';

export { isUserId };

export type Principal =
  { kind: 'user'; person: Person } | { kind: 'operator' } | { kind: 'advertiser'; advertiserId: string };

/** An advertiser id, as the advertisers table allows it: 1..64 of A-Z a-z 0-9 _ . - */
export const isAdvertiserId = (s: unknown): s is string => typeof s === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(s);
export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; error: 'missing_token' | 'invalid_token' | 'token_expired'; reason: string };

/**
 * What a token is checked against. A user token verifies with a live secret of the app its `app`
 * claim names (`appSecrets`: several during a rotation; revoked ones left out), or with
 * `platformSecret`, the platform's own key, which signs for every app and so is never given to one.
 * `maxTtlS` bounds exp - iat, whatever the minting server chose.
 */
export interface TokenRules {
  platformSecret: string;
  appSecrets(appId: string): readonly string[];
  operatorToken: string;
  maxTtlS: number;
  nowMs: number;
}

/** The longest lifetime (exp - iat) a user token may have by default: 30 days. */
export const TOKEN_MAX_TTL_S = 30 * 86_400;

/** How far a minting server's clock may run ahead of ours, for `iat` and `nbf` (not `exp`). */
export const CLOCK_LEEWAY_S = 30;

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
const mac = (secret: string, data: string) => createHmac('sha256', secret).update(data).digest();
const digest = (s: string) => createHash('sha256').update(s).digest();
const invalid = (reason: string): AuthResult => ({ ok: false, error: 'invalid_token', reason });
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A user token for `person`: `sub` is the user id, `app` the app id. */
export function signUserToken(secret: string, person: Person, opts: { ttlS: number; nowMs: number }): string {
  const iat = Math.floor(opts.nowMs / 1000);
  const payload = Buffer.from(
    JSON.stringify({ sub: person.userId, app: person.appId, iat, exp: iat + opts.ttlS }),
  ).toString('base64url');
  return `${HEADER}.${payload}.${mac(secret, `${HEADER}.${payload}`).toString('base64url')}`;
}

/**
 * An advertiser token: `sub` is the advertiser id, `role` says it is no user's. Signed with the
 * platform's own key only (no app mints for an advertiser).
 */
export function signAdvertiserToken(
  secret: string,
  advertiserId: string,
  opts: { ttlS: number; nowMs: number },
): string {
  const iat = Math.floor(opts.nowMs / 1000);
  const payload = Buffer.from(
    JSON.stringify({ sub: advertiserId, role: 'advertiser', iat, exp: iat + opts.ttlS }),
  ).toString('base64url');
  return `${HEADER}.${payload}.${mac(secret, `${HEADER}.${payload}`).toString('base64url')}`;
}

/** The bytes of a canonical base64url segment (no padding, no stray characters, no unused bits set). */
function segment(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(s)) return undefined;
  const bytes = Buffer.from(s, 'base64url');
  return bytes.toString('base64url') === s ? bytes : undefined;
}

/** A JSON object in strict UTF-8 whose top-level keys each appear once (one meaning per claim), or undefined. */
function jsonObject(bytes: Buffer): Record<string, unknown> | undefined {
  let text: string;
  let value: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  // Valid JSON, so every string is matched whole; a string followed by ':' at depth 1 is a top-level key.
  const keys: string[] = [];
  let depth = 0;
  for (const [token, key] of text.matchAll(/("(?:[^"\\]|\\.)*")\s*:|"(?:[^"\\]|\\.)*"|[{[]|[}\]]/g)) {
    if (token === '{' || token === '[') depth++;
    else if (token === '}' || token === ']') depth--;
    else if (key !== undefined && depth === 1) keys.push(JSON.parse(key) as string);
  }
  return new Set(keys).size === keys.length ? (value as Record<string, unknown>) : undefined;
}

/**
 * Whether `signature` is the HMAC of `signed` under the platform's secret or a live secret of `appId`
 * (undefined: the platform's alone).
 * Every candidate is compared in constant time, and all of them always, so the time taken says
 * neither which one matched nor how much of it.
 */
function signedFor(appId: string | undefined, signed: string, signature: Buffer, rules: TokenRules): boolean {
  let ok = false;
  for (const key of [rules.platformSecret, ...(appId === undefined ? [] : rules.appSecrets(appId))]) {
    const expected = mac(key, signed);
    ok = (signature.length === expected.length && timingSafeEqual(signature, expected)) || ok;
  }
  return ok;
}

export function authenticate(authorization: string | undefined, rules: TokenRules): AuthResult {
  const token = /^Bearer ([\x21-\x7e]+)$/i.exec(authorization ?? '')?.[1];
  if (!token) return { ok: false, error: 'missing_token', reason: 'send Authorization: Bearer <token>' };
  // Compared as digests: equal lengths, so the time taken says nothing about the operator token.
  if (timingSafeEqual(digest(token), digest(rules.operatorToken))) return { ok: true, principal: { kind: 'operator' } };
  const parts = token.split('.');
  if (parts.length !== 3) return invalid('a token has three segments');
  const [header, payload, signature] = parts.map(segment);
  if (!header || !payload || !signature) return invalid('each segment must be canonical base64url');
  const h = jsonObject(header);
  if (!h || h.alg !== 'HS256' || Object.keys(h).some((k) => k !== 'alg' && !(k === 'typ' && h.typ === 'JWT'))) {
    return invalid('the header must be {"alg":"HS256","typ":"JWT"} (typ optional)');
  }
  // The claims are read before the signature is checked, as a `kid` would be: the app they name picks
  // the keys. Nothing else of them counts until the signature verifies.
  const claims = jsonObject(payload);
  if (!claims) return invalid('the payload must be a JSON object with each claim once');
  const { sub, app, role, iat, exp, nbf } = claims;
  const signed = `${parts[0]}.${parts[1]}`;
  // An advertiser token carries `role` and no app; a user token an app and no role. Neither passes as the other.
  if (role !== undefined) {
    if (role !== 'advertiser') return invalid('role must be "advertiser" (a user token has none)');
    if (app !== undefined) return invalid('an advertiser token names no app');
    if (!signedFor(undefined, signed, signature, rules))
      return invalid("bad signature: an advertiser token is signed with the platform's key");
  } else {
    // A user id means nothing without its app (two apps' "u1" are two people), so a token must name both.
    if (typeof app !== 'string' || !isAppId(app))
      return invalid('app must be the app id (1..64 of A-Z a-z 0-9 _ . -): a token binds one person, (app, user)');
    if (!signedFor(app, signed, signature, rules))
      return invalid('bad signature: not signed with a live secret of the app it names');
  }
  if (!isNumber(exp) || !isNumber(iat) || (nbf !== undefined && !isNumber(nbf)))
    return invalid('exp and iat are required, and exp, iat and nbf must be numbers');
  if (role !== undefined && !isAdvertiserId(sub))
    return invalid('sub must be an advertiser id: 1..64 of A-Z a-z 0-9 _ . -');
  if (role === undefined && (typeof sub !== 'string' || !isUserId(sub)))
    return invalid('sub must be a user id: 1..64 characters, no "/", NUL or lone surrogate');
  const nowS = rules.nowMs / 1000;
  if (exp - iat > rules.maxTtlS) return invalid(`the token lives longer than ${rules.maxTtlS} s (exp - iat)`);
  if (iat > nowS + CLOCK_LEEWAY_S) return invalid('iat is in the future');
  if (nbf !== undefined && nbf > nowS + CLOCK_LEEWAY_S) return invalid('the token is not valid yet (nbf)');
  if (exp <= nowS) return { ok: false, error: 'token_expired', reason: 'the token has expired (exp)' };
  if (role !== undefined) return { ok: true, principal: { kind: 'advertiser', advertiserId: sub as string } };
  return { ok: true, principal: { kind: 'user', person: { appId: app as string, userId: sub as string } } };
}

/** Whether `principal` may read (or, when `write`, move) `person`'s money; the operator only reads, an advertiser never. */
export const mayActFor = (principal: Principal, person: Person, write: boolean) =>
  principal.kind === 'operator'
    ? !write
    : principal.kind === 'user' && principal.person.appId === person.appId && principal.person.userId === person.userId;

export type RequestedPerson =
  | { ok: true; person: Person }
  | { ok: false; status: 400 | 403; error: 'missing_app_id' | 'invalid_app_id' | 'forbidden'; reason: string };

/**
 * The person a `/v1/users/{user_id}/…` request is about. Paths name only the user, so the app is the
 * user token's; the operator, who has no app, names it in the `App-Id` header. A user token sent
 * with another App-Id than its own is refused, never reinterpreted; an advertiser token is refused.
 */
export function requestedPerson(
  principal: Principal,
  userId: string,
  appIdHeader: string | undefined,
): RequestedPerson {
  if (principal.kind === 'advertiser')
    return { ok: false, status: 403, error: 'forbidden', reason: 'an advertiser token acts for no user' };
  if (principal.kind === 'user') {
    if (appIdHeader !== undefined && appIdHeader !== principal.person.appId)
      return { ok: false, status: 403, error: 'forbidden', reason: 'App-Id names another app than the token' };
    return { ok: true, person: { appId: principal.person.appId, userId } };
  }
  if (appIdHeader === undefined)
    return {
      ok: false,
      status: 400,
      error: 'missing_app_id',
      reason: "the operator names the user's app in the App-Id header",
    };
  if (!isAppId(appIdHeader))
    return { ok: false, status: 400, error: 'invalid_app_id', reason: 'App-Id is 1..64 of A-Z a-z 0-9 _ . -' };
  return { ok: true, person: { appId: appIdHeader, userId } };
}
