// Verifies an advertiser's conversion postback: `Postback-Signature: t=<unix ms>,v1=<hex>` (several
// v1 allowed), t within the tolerance, HMAC-SHA256 over `t + "." + body` with the postback secret of
// the campaign the body names; that campaign must belong to an app. The JSON body is read strictly.
import { isUtf8 } from 'node:buffer';
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { mediaType } from './decode.js';
import { postbackFields, readPostbackJson, type PostbackFields } from './postback-body.js';
import type { Problem } from './s2s-query.js';

export interface CampaignSecret {
  appId: string;
  secret: KeyObject;
}
export interface PostbackVerified extends PostbackFields {
  appId: string;
  t: number;
}
type Refused = Problem | { ok: false; status: 403 | 415; error: string; message: string };
export type PostbackResult = { ok: true; value: PostbackVerified } | Refused;

const CANONICAL_T = /^(?:0|[1-9]\d{0,15})$/;
const HEX_64 = /^[0-9a-f]{64}$/;

/** `t` and the v1 signatures, or undefined when the header is not of that form. */
export function parsePostbackSignature(header: string): { t: number; sigs: string[] } | undefined {
  let t: number | undefined;
  const sigs: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 1) return undefined;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1);
    // As for beacons: only t's one canonical spelling, so one signature is not valid under several headers.
    if (name === 't') {
      if (t !== undefined || !CANONICAL_T.test(value)) return undefined;
      t = Number(value);
    } else if (name === 'v1') sigs.push(value.trim());
  }
  return t === undefined || sigs.length === 0 || sigs.length > 8 ? undefined : { t, sigs };
}

const unauthorized = (error: string, message: string): Refused => ({ ok: false, status: 401, error, message });

export function verifyPostback(
  req: { contentType: string; signature: string; body: Uint8Array },
  nowMs: number,
  toleranceMs: number,
  deps: { campaign(campaignId: string): CampaignSecret | undefined },
): PostbackResult {
  if (!req.signature) return unauthorized('missing_signature', 'the Postback-Signature header is required');
  const sig = parsePostbackSignature(req.signature);
  if (!sig) return unauthorized('malformed_signature', 'expected Postback-Signature: t=<unix ms>,v1=<hex>');
  if (sig.t < nowMs - toleranceMs) return unauthorized('timestamp_too_old', 't is more than 300 s old');
  if (sig.t > nowMs + toleranceMs) return unauthorized('timestamp_in_future', 't is more than 300 s ahead');
  if (mediaType(req.contentType) !== 'application/json') {
    return { ok: false, status: 415, error: 'unsupported_media_type', message: 'a postback is application/json' };
  }
  // JSON text is UTF-8 (RFC 8259): other bytes would be read as U+FFFD unseen.
  if (!isUtf8(req.body))
    return { ok: false, status: 400, error: 'undecodable_body', message: 'the JSON body is not UTF-8' };
  const json = readPostbackJson(
    Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength).toString('utf8'),
  );
  if (!json.ok) return json;

  const campaign = deps.campaign(json.campaignId);
  if (!campaign)
    return {
      ok: false,
      status: 403,
      error: 'unknown_campaign',
      message: `campaign ${json.campaignId} has no owning app or no postback secret`,
    };
  const mac = createHmac('sha256', campaign.secret).update(`${sig.t}.`).update(req.body).digest();
  if (!sig.sigs.some((s) => HEX_64.test(s) && timingSafeEqual(mac, Buffer.from(s, 'hex')))) {
    return unauthorized(
      'bad_signature',
      `the signature does not verify with campaign ${json.campaignId}'s postback secret`,
    );
  }
  // The rest of the body is read only once it is known to come from the campaign's advertiser.
  const fields = postbackFields(json.body);
  if (!fields.ok) return fields;
  return { ok: true, value: { ...fields.fields, appId: campaign.appId, t: sig.t } };
}
