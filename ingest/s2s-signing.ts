// How a sender signs the collector's server-to-server callbacks (CONTRACTS.md §7), as pure functions
// for the ad-network simulator and the tests: each returns exactly what a real sender puts on the wire.
// Verification lives elsewhere (admob-verify.ts, network-verify.ts, postback-verify.ts).
import { createHmac, createPrivateKey, sign, type KeyObject } from 'node:crypto';

/** Query parameters in the order a sender writes them; values are percent-encoded here. */
export type QueryParams = Record<string, string | number>;

const encodeQuery = (params: QueryParams) =>
  Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');

/**
 * An AdMob SSV query string as Google sends it: the parameters in alphabetical order, percent-encoded,
 * then `&signature=<ECDSA P-256 SHA-256, DER, URL-safe base64 without padding>&key_id=<n>`, the
 * signature over everything before `&signature=` with the escapes decoded (what Google's verifier,
 * Tink's RewardedAdsVerifier, checks). `privateKey`: a KeyObject or PEM text.
 */
export function signAdmobQuery(
  params: QueryParams,
  signer: { keyId: number | string; privateKey: KeyObject | string },
): string {
  const sorted = Object.fromEntries(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const query = encodeQuery(sorted);
  const key = typeof signer.privateKey === 'string' ? createPrivateKey(signer.privateKey) : signer.privateKey;
  const signature = sign('sha256', Buffer.from(decodeURIComponent(query)), { key, dsaEncoding: 'der' }).toString(
    'base64url',
  );
  return `${query}&signature=${signature}&key_id=${signer.keyId}`;
}

/**
 * An HMAC network's callback query string: the parameters in the given order, then
 * `&signature=<lowercase hex HMAC-SHA256(secret, everything before "&signature=")>`.
 * `secret` is the string `npm run apps -- network` printed, taken as UTF-8 bytes.
 */
export function signNetworkQuery(params: QueryParams, secret: string): string {
  const message = encodeQuery(params);
  return `${message}&signature=${createHmac('sha256', secret).update(message).digest('hex')}`;
}

/**
 * The `Postback-Signature` header value for `body` sent at `t` (unix ms): `t=<t>,v1=<lowercase hex
 * HMAC-SHA256(campaign postback secret, t + "." + body)>`.
 */
export function signPostback(body: string | Uint8Array, secret: string, t: number): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex')}`;
}
