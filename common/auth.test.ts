import { describe, expect, it } from 'vitest';
import { authenticate, mayActFor, signUserToken } from './auth.js';
import { createSecretBox } from './secretbox.js';

const secret = 'x'.repeat(32);
const config = { secret, operatorToken: 'operator-token-0123', nowMs: 1_000_000_000 };

describe('authenticate', () => {
  const token = signUserToken(secret, 'u1', { ttlS: 60, nowMs: config.nowMs });
  it.each([
    ['accepts a user token', `Bearer ${token}`, { ok: true, principal: { kind: 'user', userId: 'u1' } }],
    ['accepts the operator token', 'Bearer operator-token-0123', { ok: true, principal: { kind: 'operator' } }],
    ['rejects a missing header', undefined, { ok: false, error: 'missing_token' }],
    ['rejects a token signed with another secret', `Bearer ${signUserToken('y'.repeat(32), 'u1', { ttlS: 60, nowMs: config.nowMs })}`, { ok: false, error: 'invalid_token' }],
    ['rejects a token whose payload was changed', `Bearer ${token.replace(/\.[^.]+\./, `.${Buffer.from('{"sub":"u2","exp":9999999999}').toString('base64url')}.`)}`, { ok: false, error: 'invalid_token' }],
    ['rejects an alg=none token', `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${token.split('.')[1]}.`, { ok: false, error: 'invalid_token' }],
  ])('%s', (_name, header, expected) => {
    expect(authenticate(header, config)).toEqual(expected);
  });

  it('rejects an expired token', () => {
    expect(authenticate(`Bearer ${token}`, { ...config, nowMs: config.nowMs + 60_000 })).toEqual({ ok: false, error: 'token_expired' });
  });

  it('lets a user act only for themselves, and the operator only read', () => {
    expect([mayActFor({ kind: 'user', userId: 'u1' }, 'u1', true), mayActFor({ kind: 'user', userId: 'u1' }, 'u2', false)]).toEqual([true, false]);
    expect([mayActFor({ kind: 'operator' }, 'u1', false), mayActFor({ kind: 'operator' }, 'u1', true)]).toEqual([true, false]);
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
