// Who is calling: `Authorization: Bearer <token>` is either the operator token from config, or a user
// token, an HS256 JWT whose `sub` is the one user it may act for (minted by the app's backend, or
// by `npm run rewards -- token`). Only HS256 is accepted: the header cannot pick the algorithm.
import { createHmac, timingSafeEqual } from 'node:crypto';

export type Principal = { kind: 'user'; userId: string } | { kind: 'operator' };
export type AuthResult = { ok: true; principal: Principal } | { ok: false; error: 'missing_token' | 'invalid_token' | 'token_expired' };

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
const mac = (secret: string, data: string) => createHmac('sha256', secret).update(data).digest();
const sameBytes = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

export function signUserToken(secret: string, userId: string, opts: { ttlS: number; nowMs: number }): string {
  const payload = Buffer.from(JSON.stringify({ sub: userId, iat: Math.floor(opts.nowMs / 1000), exp: Math.floor(opts.nowMs / 1000) + opts.ttlS })).toString('base64url');
  return `${HEADER}.${payload}.${mac(secret, `${HEADER}.${payload}`).toString('base64url')}`;
}

export function authenticate(authorization: string | undefined, config: { secret: string; operatorToken: string; nowMs: number }): AuthResult {
  const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
  if (!token) return { ok: false, error: 'missing_token' };
  if (sameBytes(Buffer.from(token), Buffer.from(config.operatorToken))) return { ok: true, principal: { kind: 'operator' } };
  const [header, payload, signature, extra] = token.split('.');
  if (header !== HEADER || !payload || !signature || extra !== undefined) return { ok: false, error: 'invalid_token' };
  if (!sameBytes(Buffer.from(signature, 'base64url'), mac(config.secret, `${header}.${payload}`))) return { ok: false, error: 'invalid_token' };
  let claims: { sub?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    return { ok: false, error: 'invalid_token' };
  }
  if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number') return { ok: false, error: 'invalid_token' };
  if (claims.exp * 1000 <= config.nowMs) return { ok: false, error: 'token_expired' };
  return { ok: true, principal: { kind: 'user', userId: claims.sub } };
}

/** Whether `principal` may read (or, when `write`, move) `userId`'s money; the operator only reads. */
export const mayActFor = (principal: Principal, userId: string, write: boolean) =>
  principal.kind === 'operator' ? !write : principal.userId === userId;
