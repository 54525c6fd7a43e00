// Verifies a reward callback of a network that signs with a shared secret (Pangle, GDT, Unity style):
// the query ends `&signature=<lowercase hex HMAC-SHA256(secret, raw query before "&signature=")>`,
// the secret being one of the (network, app_id) pair's unrevoked ones; app_id is a signed parameter, and
// so is ad_unit, registered for (network, app_id) and bound to the campaign it confirms for (ad-unit.ts).
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { boundUnit, type AdUnit } from './ad-unit.js';
import { callbackFields, type CallbackFields } from './s2s-fields.js';
import { parseParams, splitSigned, type Problem } from './s2s-query.js';
import { APP_ID } from './validate.js';

export interface NetworkSecret {
  secretId: string;
  secret: KeyObject;
}
export interface NetworkVerified extends CallbackFields {
  appId: string;
  campaignId: string;
  keyId: string;
  adUnit: string;
}
export type NetworkResult =
  | { ok: true; value: NetworkVerified }
  | Problem
  | { ok: false; status: 400 | 403 | 503; error: string; message: string };

export const NETWORK = /^[a-z0-9_-]{1,32}$/;
/**
 * Names no HMAC network may take: the confirmation's source is the network's name, and the aggregator
 * reads 'postback' as an advertiser's (whose transaction ids a network could then claim first) and
 * 'admob' as Google's.
 */
export const isHmacNetwork = (name: string) => NETWORK.test(name) && name !== 'admob' && name !== 'postback';
const TRAILER = /^signature=([0-9a-f]{64})$/;

export interface NetworkDeps {
  secrets(network: string, appId: string): NetworkSecret[];
  adUnit(network: string, adUnit: string): AdUnit | undefined;
}

export function verifyNetwork(network: string, query: string, deps: NetworkDeps): NetworkResult {
  if (!isHmacNetwork(network)) return unknown(`no network "${network}"`);
  const split = splitSigned(query, TRAILER);
  if (!split.ok) return split;
  const parsed = parseParams(split.signed);
  if (!parsed.ok) return parsed;
  const appId = parsed.params.get('app_id') ?? '';
  if (!APP_ID.test(appId))
    return { ok: false, status: 400, error: 'invalid_app_id', message: 'app_id: must be 1..64 of [A-Za-z0-9_.-]' };
  const secrets = deps.secrets(network, appId);
  if (!secrets.length) return unknown(`network ${network} has no active secret for app ${appId}`);

  const given = Buffer.from(split.trailer[1]!, 'hex');
  const keyId = secrets.find((s) =>
    timingSafeEqual(createHmac('sha256', s.secret).update(split.signed).digest(), given),
  )?.secretId;
  if (keyId === undefined)
    return {
      ok: false,
      status: 401,
      error: 'bad_signature',
      message: `the signature does not verify with any secret of ${network} for app ${appId}`,
    };
  const adUnit = parsed.params.get('ad_unit') ?? '';
  const unit = boundUnit(adUnit, deps.adUnit(network, adUnit), appId);
  if (!unit.ok) return unit;
  const fields = callbackFields(parsed.params);
  if (!fields.ok) return fields;
  return { ok: true, value: { ...fields.fields, appId, campaignId: unit.campaignId, keyId, adUnit } };
}

const unknown = (message: string): NetworkResult => ({ ok: false, status: 403, error: 'unknown_network', message });
