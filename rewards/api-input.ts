// What the rewards API's routes share at the edge (api.ts, campaigns-api.ts): the JSON body and the
// Idempotency-Key checked before anything reaches Postgres, so bad input is a 400, never a 503.
import { apiError as error, type ApiRequest, type ApiResponse } from '../common/http-server.js';
import { unstorable } from '../common/storable-text.js';

export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

export const isResponse = (x: unknown): x is ApiResponse =>
  typeof x === 'object' && x !== null && 'status' in x && 'body' in x;

/** The body as a JSON object in strict UTF-8 whose every key and string Postgres can store. */
export function jsonBody(req: ApiRequest): Record<string, unknown> | ApiResponse {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
    return error(415, 'unsupported_media_type', 'send application/json');
  let bad: string | undefined;
  try {
    const body: unknown = JSON.parse(
      new TextDecoder('utf-8', { fatal: true }).decode(req.body),
      (key, value: unknown) => {
        bad ??= unstorable(key) ?? (typeof value === 'string' ? unstorable(value) : undefined);
        return value;
      },
    );
    if (bad)
      return error(400, 'invalid_json', `the body holds a string with a ${bad === 'nul' ? 'NUL' : 'lone surrogate'}`);
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // answered below
  }
  return error(400, 'invalid_json', 'the body must be a JSON object in UTF-8');
}

/** The Idempotency-Key header, or the 400 that says what is wrong with it. */
export function idempotencyKeyOf(req: ApiRequest): string | ApiResponse {
  const key = req.headers['idempotency-key'];
  if (!key)
    return error(400, 'missing_idempotency_key', 'send an Idempotency-Key header of 1..128 visible ASCII characters');
  if (!IDEMPOTENCY_KEY.test(key))
    return error(400, 'invalid_idempotency_key', 'an Idempotency-Key is 1..128 visible ASCII characters');
  return key;
}
