import { createSecretKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseSignatureHeader, sign, verifySignature, type SigningKey } from './signature.js';

const now = 1_700_000_000_000;
const body = Buffer.from('{"appId":"a"}');
const keys = new Map<string, SigningKey>([
  ['k_live', { appId: 'app1', secret: createSecretKey(Buffer.from('s3cret')), revoked: false }],
  ['k_next', { appId: 'app1', secret: createSecretKey(Buffer.from('n3xt')), revoked: false }],
  ['k_old', { appId: 'app1', secret: createSecretKey(Buffer.from('0ld')), revoked: true }],
]);
const v1 = (secret: string, t = now, b: Uint8Array = body) => sign(secret, t, b);

describe('verifySignature', () => {
  it.each([
    ['a valid signature', `t=${now},k=k_live,v1=${v1('s3cret')}`, { ok: true, keyId: 'k_live', appId: 'app1' }],
    [
      'one valid v1 among several',
      `t=${now},k=k_live,v1=${'0'.repeat(64)},v1=${v1('s3cret')}`,
      { ok: true, keyId: 'k_live' },
    ],
    [
      'a rotation header with the new key second',
      `t=${now},k=k_old,v1=${v1('0ld')},k=k_next,v1=${v1('n3xt')}`,
      { ok: true, keyId: 'k_next' },
    ],
    ['t at the edge of the window', `t=${now - 300_000},k=k_live,v1=${v1('s3cret', now - 300_000)}`, { ok: true }],
    ['no header', undefined, { ok: false, error: 'missing_signature' }],
    ['garbage', 'hello', { ok: false, error: 'malformed_signature' }],
    ['no v1', `t=${now},k=k_live`, { ok: false, error: 'malformed_signature' }],
    ['v1 before any k', `t=${now},v1=${v1('s3cret')},k=k_live`, { ok: false, error: 'malformed_signature' }],
    ['a non-numeric t', `t=soon,k=k_live,v1=${v1('s3cret')}`, { ok: false, error: 'malformed_signature' }],
    // One signature, one spelling of t: anything but a plain decimal would let a captured request be
    // replayed under another header.
    ['t with leading zeros', `t=000${now},k=k_live,v1=${v1('s3cret')}`, { ok: false, error: 'malformed_signature' }],
    ['t with a sign', `t=+${now},k=k_live,v1=${v1('s3cret')}`, { ok: false, error: 'malformed_signature' }],
    ['t with an exponent', `t=1.7e12,k=k_live,v1=${v1('s3cret', 1.7e12)}`, { ok: false, error: 'malformed_signature' }],
    ['t with a fraction', `t=${now}.0,k=k_live,v1=${v1('s3cret')}`, { ok: false, error: 'malformed_signature' }],
    ['t with spaces', `t= ${now} ,k=k_live,v1=${v1('s3cret')}`, { ok: false, error: 'malformed_signature' }],
    [
      'a stale t',
      `t=${now - 300_001},k=k_live,v1=${v1('s3cret', now - 300_001)}`,
      { ok: false, error: 'timestamp_too_old' },
    ],
    [
      'a future t',
      `t=${now + 300_001},k=k_live,v1=${v1('s3cret', now + 300_001)}`,
      { ok: false, error: 'timestamp_in_future' },
    ],
    ['an unknown key', `t=${now},k=k_nope,v1=${v1('s3cret')}`, { ok: false, error: 'unknown_key' }],
    ['a revoked key', `t=${now},k=k_old,v1=${v1('0ld')}`, { ok: false, error: 'key_revoked' }],
    ['the wrong secret', `t=${now},k=k_live,v1=${v1('other')}`, { ok: false, error: 'bad_signature' }],
    [
      'a signature over another t',
      `t=${now},k=k_live,v1=${v1('s3cret', now - 1)}`,
      { ok: false, error: 'bad_signature' },
    ],
    [
      'a signature over another body',
      `t=${now},k=k_live,v1=${v1('s3cret', now, Buffer.from('x'))}`,
      { ok: false, error: 'bad_signature' },
    ],
    [
      'uppercase or short hex',
      `t=${now},k=k_live,v1=${v1('s3cret').toUpperCase()},v1=abc`,
      { ok: false, error: 'bad_signature' },
    ],
  ])('%s', (_name, header, expected) => {
    expect(verifySignature(header, body, now, keys)).toMatchObject(expected);
  });
});

describe('parseSignatureHeader', () => {
  it('pairs each v1 with the key before it and ignores other schemes', () => {
    expect(parseSignatureHeader('t=5, k=a, v1=x, v0=old, k=b, v1=y')).toEqual({
      t: 5,
      pairs: [
        { keyId: 'a', sig: 'x' },
        { keyId: 'b', sig: 'y' },
      ],
    });
  });
});
