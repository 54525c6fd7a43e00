// Verifies an AdMob SSV callback as Google sends it: ECDSA P-256 / SHA-256 (DER, URL-safe base64)
// over the query up to `&signature=`, percent-decoded (s2s-query.ts admobMessage), which must end
// `&signature=<sig>&key_id=<n>`; key_id picks Google's public key; the ad unit must be registered to an
// app and bound to one of its campaigns (ad-unit.ts): the confirmation is for that app and campaign.
import { verify } from 'node:crypto';
import { boundUnit, type AdUnit } from './ad-unit.js';
import type { AdmobKeyLookup } from './admob-keys.js';
import { callbackFields, type CallbackFields } from './s2s-fields.js';
import { admobMessage, parseParams, splitSigned, type Problem } from './s2s-query.js';

export interface AdmobVerified extends CallbackFields {
  appId: string;
  campaignId: string;
  keyId: string;
  adUnit: string;
}
export type AdmobResult =
  { ok: true; value: AdmobVerified } | Problem | { ok: false; status: 400 | 403 | 503; error: string; message: string };

/** `signature=<url-safe base64, padding optional, "=" possibly as %3D>&key_id=<decimal>`, nothing after. */
const TRAILER = /^signature=([A-Za-z0-9_-]{8,128})((?:=|%3[Dd]){0,2})&key_id=(0|[1-9]\d{0,19})$/;

export async function verifyAdmob(
  query: string,
  deps: { keys: AdmobKeyLookup; adUnit(adUnit: string): AdUnit | undefined },
): Promise<AdmobResult> {
  const split = splitSigned(query, TRAILER);
  if (!split.ok) return split;
  const [, sig, , keyId] = split.trailer as unknown as [string, string, string, string];
  if (sig.length % 4 === 1)
    return { ok: false, status: 401, error: 'malformed_signature', message: 'the signature is not base64' };

  // Google signs the decoded query ('+' being itself), so the parameters are read first, as it wrote them.
  const parsed = parseParams(split.signed, 'literal');
  if (!parsed.ok) return parsed;
  const signedText = admobMessage(split.signed, parsed.params);
  if (!signedText.ok) return signedText;

  const found = await deps.keys.get(keyId);
  if (!found.ok) {
    return found.why === 'unknown'
      ? { ok: false, status: 403, error: 'unknown_key', message: `key_id ${keyId} is not among AdMob's verifier keys` }
      : {
          ok: false,
          status: 503,
          error: 'keys_unavailable',
          message: "AdMob's verifier keys could not be loaded; retry later",
        };
  }
  if (
    !verify(
      'sha256',
      Buffer.from(signedText.message),
      { key: found.key, dsaEncoding: 'der' },
      Buffer.from(sig, 'base64url'),
    )
  ) {
    return {
      ok: false,
      status: 401,
      error: 'bad_signature',
      message: 'the signature does not verify with this key_id',
    };
  }
  const adUnit = parsed.params.get('ad_unit') ?? '';
  const unit = boundUnit(adUnit, deps.adUnit(adUnit));
  if (!unit.ok) return unit;
  const fields = callbackFields(parsed.params);
  if (!fields.ok) return fields;
  return { ok: true, value: { ...fields.fields, appId: unit.appId, campaignId: unit.campaignId, keyId, adUnit } };
}
