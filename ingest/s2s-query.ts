// The signed query strings of S2S callbacks: the signature covers the raw query up to `&signature=`,
// so the trailer must be exactly the signature parameters (anything after them would be unsigned),
// and the signed parameters are decoded strictly, only after the bytes were split off as sent.
import { unstorable } from '../common/storable-text.js';

export type Problem = { ok: false; status: 400 | 401; error: string; message: string };
export type Split = { ok: true; signed: string; trailer: RegExpExecArray } | Problem;

const MARK = '&signature=';

/**
 * Splits `query` at its first `&signature=`: the signed part before it, and the rest, which must match
 * `trailer` (anchored, starting at `signature=`) in full.
 */
export function splitSigned(query: string, trailer: RegExp): Split {
  const at = query.indexOf(MARK);
  if (at < 0) {
    return query.startsWith('signature=') || query.includes('&signature')
      ? malformed('the signature must follow the signed parameters')
      : { ok: false, status: 401, error: 'missing_signature', message: 'the query has no signature parameter' };
  }
  if (at === 0) return malformed('nothing before the signature is signed');
  const m = trailer.exec(query.slice(at + 1));
  if (!m) return malformed('the signature parameters must come last, in the documented form');
  return { ok: true, signed: query.slice(0, at), trailer: m };
}

const malformed = (message: string): Problem => ({ ok: false, status: 401, error: 'malformed_signature', message });

/**
 * How a query's `+` reads: 'space' (form encoding; our HMAC scheme signs the raw bytes, so either is
 * unambiguous) or 'literal' (as java.net.URI decodes: AdMob signs the decoded query, see admobMessage).
 */
export type Plus = 'space' | 'literal';

/** A percent-encoded component, or undefined when it is not valid UTF-8 once decoded. */
function decode(s: string, plus: Plus): string | undefined {
  try {
    return decodeURIComponent(plus === 'space' ? s.replace(/\+/g, ' ') : s);
  } catch {
    return undefined;
  }
}

/**
 * The signed parameters, decoded: each `name=value` once. Refuses (400 malformed_query) an empty
 * part, a repeated name, text that is not UTF-8, and text no store can hold (NUL).
 */
export function parseParams(signed: string, plus: Plus = 'space'): { ok: true; params: Map<string, string> } | Problem {
  const params = new Map<string, string>();
  for (const part of signed.split('&')) {
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq), plus);
    const value = eq < 0 ? '' : decode(part.slice(eq + 1), plus);
    if (!part || !name) return bad('an empty or undecodable parameter name');
    if (value === undefined) return bad(`${name}: not percent-encoded UTF-8`);
    if (params.has(name)) return bad(`${name}: given more than once`);
    const why = unstorable(name) ?? unstorable(value);
    if (why) return bad(`${name}: contains ${why === 'nul' ? 'NUL' : 'a lone UTF-16 surrogate'}`);
    params.set(name, value);
  }
  return { ok: true, params };
}

const bad = (message: string): Problem => ({ ok: false, status: 400, error: 'malformed_query', message });

/** What AdMob's callback parameters may be called: Google's names, never escaped. */
const ADMOB_NAME = /^[a-z0-9_]{1,64}$/;

/**
 * The message Google signed: the query before `&signature=` with its percent-escapes decoded (Tink's
 * RewardedAdsVerifier verifies `uri.getQuery()`), given its parameters as parseParams(signed, 'literal')
 * read them. Decoding loses where the '&' and '=' were, so the parameters must be readable from the
 * decoded text alone: a name other than [a-z0-9_] or a value holding '&' is refused (400), else one
 * signature would vouch for several meanings (e.g. a "%26ad_unit%3D…" moving a signed ad unit into another value).
 */
export function admobMessage(signed: string, params: Map<string, string>): { ok: true; message: string } | Problem {
  for (const [name, value] of params) {
    if (!ADMOB_NAME.test(name)) return bad(`${name.slice(0, 64)}: not one of AdMob's parameter names`);
    if (value.includes('&'))
      return bad(`${name}: a value holding "&" cannot be told apart from two parameters under AdMob's signature`);
  }
  return { ok: true, message: decodeURIComponent(signed) };
}
