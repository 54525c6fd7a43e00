// Beacon-Signature verification (CONTRACTS.md §1): `t=<unix ms>,k=<key id>,v1=<hex>`, where the
// hex is HMAC-SHA256(secret, t + "." + raw body). Each v1 belongs to the k before it, so a header can
// carry several keys and several signatures during a rotation; one valid pair is enough.
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';

/** `secret` as a KeyObject (crypto.createSecretKey): the secret's bytes stay out of the JS heap. */
export interface SigningKey {
  appId: string;
  secret: KeyObject;
  revoked: boolean;
}
export interface KeyLookup {
  get(keyId: string): SigningKey | undefined;
}

export type SignatureError =
  | 'missing_signature'
  | 'malformed_signature'
  | 'timestamp_too_old'
  | 'timestamp_in_future'
  | 'unknown_key'
  | 'key_revoked'
  | 'bad_signature';

export type Verified = { ok: true; keyId: string; appId: string; t: number } | { ok: false; error: SignatureError };

interface Parsed {
  t: number;
  pairs: { keyId: string; sig: string }[];
}

/** A plain decimal integer: no sign, leading zero, space, fraction or exponent. */
const CANONICAL_T = /^(?:0|[1-9]\d{0,15})$/;

export function parseSignatureHeader(header: string): Parsed | undefined {
  let t: number | undefined;
  let keyId: string | undefined;
  const pairs: Parsed['pairs'] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 1) return undefined;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === 't') {
      // The HMAC covers t's number, so only its one canonical spelling is taken, untrimmed: with
      // leading zeros or spaces allowed, one signature would be valid under several headers.
      if (t !== undefined || !CANONICAL_T.test(part.slice(eq + 1))) return undefined;
      t = Number(value);
    } else if (name === 'k') {
      if (!value || value.length > 128) return undefined;
      keyId = value;
    } else if (name === 'v1') {
      if (keyId === undefined) return undefined;
      pairs.push({ keyId, sig: value });
    } // other schemes (v0, v2...) are ignored, as in Stripe's scheme
  }
  if (t === undefined || pairs.length === 0 || pairs.length > 8) return undefined;
  return { t, pairs };
}

export const sign = (secret: KeyObject | string, t: number, body: Uint8Array): string =>
  createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex');

const HEX_64 = /^[0-9a-f]{64}$/;

/** Checks the window first (cheap), then each (key, signature) pair in constant time. */
export function verifySignature(
  header: string | undefined,
  body: Uint8Array,
  nowMs: number,
  keys: KeyLookup,
  toleranceMs = 300_000,
): Verified {
  if (!header) return { ok: false, error: 'missing_signature' };
  const parsed = parseSignatureHeader(header);
  if (!parsed) return { ok: false, error: 'malformed_signature' };
  if (parsed.t < nowMs - toleranceMs) return { ok: false, error: 'timestamp_too_old' };
  if (parsed.t > nowMs + toleranceMs) return { ok: false, error: 'timestamp_in_future' };

  // The error reported is the most specific one: a live key whose signature did not match beats
  // a revoked key, which beats an unknown one.
  let error: SignatureError = 'unknown_key';
  const expected = new Map<string, Buffer>();
  for (const { keyId, sig } of parsed.pairs) {
    const key = keys.get(keyId);
    if (!key) continue;
    if (key.revoked) {
      if (error === 'unknown_key') error = 'key_revoked';
      continue;
    }
    error = 'bad_signature';
    let mac = expected.get(keyId);
    if (!mac) {
      mac = createHmac('sha256', key.secret).update(`${parsed.t}.`).update(body).digest();
      expected.set(keyId, mac);
    }
    if (HEX_64.test(sig) && timingSafeEqual(mac, Buffer.from(sig, 'hex'))) {
      return { ok: true, keyId, appId: key.appId, t: parsed.t };
    }
  }
  return { ok: false, error };
}
