// The ownership commands of `npm run apps` (CONTRACTS.md §7-§8): campaigns given to apps with their
// postback secrets, HMAC network secrets, AdMob (or other) ad units registered to apps. Each returns
// the line to print, or throws an Error whose message is for the operator.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { listAdUnits, listCampaignOwners, listNetworkSecrets, s2sSql } from './s2s-keys-pg.js';
import { isHmacNetwork, NETWORK } from './network-verify.js';
import { APP_ID } from './validate.js';

const newSecret = () => randomBytes(32).toString('hex');

function checkApp(appId: string): void {
  if (!APP_ID.test(appId)) throw new Error('app_id must be 1..64 of [A-Za-z0-9_.-]');
}

/** A missing app is a foreign-key violation: say so, rather than print the database's words. */
async function withApp<T>(appId: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if ((err as { code?: string }).code === '23503') throw new Error(`no app ${appId} (register it first: npm run apps -- create ${appId})`);
    throw err;
  }
}

/** Creates the campaign for the app, or assigns an unowned one; prints `<campaign_id> <postback_secret>`. */
export async function assignCampaign(db: pg.ClientBase, campaignId: string, appId: string): Promise<string> {
  checkApp(appId);
  if (!campaignId || campaignId.length > 64) throw new Error('campaign_id must be 1..64 characters');
  const { rows } = await withApp(appId, () => db.query<{ app_id: string; postback_secret: string }>(s2sSql['assign-campaign'], [campaignId, appId, newSecret()]));
  const row = rows[0]!;
  if (row.app_id !== appId) throw new Error(`campaign ${campaignId} belongs to app ${row.app_id}`);
  return `${campaignId} ${row.postback_secret}`;
}

/** Issues a secret for (network, app); prints `<secret_id> <secret>`. */
export async function createNetworkSecret(db: pg.ClientBase, network: string, appId: string): Promise<string> {
  checkApp(appId);
  if (!isHmacNetwork(network)) throw new Error('network must be 1..32 of [a-z0-9_-], not admob or postback (AdMob signs with Google\'s keys; postback names advertisers\' postbacks)');
  const secret = newSecret();
  const { rows } = await withApp(appId, () => db.query<{ secret_id: string }>(s2sSql['create-network-secret'], [network, appId, secret]));
  return `${rows[0]!.secret_id} ${secret}`;
}

export async function revokeNetworkSecret(db: pg.ClientBase, secretId: string): Promise<string> {
  if (!/^[1-9]\d{0,18}$/.test(secretId)) throw new Error('secret_id is a positive integer');
  const { rows } = await db.query<{ network: string; app_id: string }>(s2sSql['revoke-network-secret'], [secretId]);
  if (!rows.length) throw new Error(`no network secret ${secretId}`);
  return `revoked ${secretId} (${rows[0]!.network}, app ${rows[0]!.app_id})`;
}

/**
 * Registers an ad unit of a network to an app (again for the same app is fine). An AdMob unit is
 * stored by its number, the text after the '/' of "ca-app-pub-…/<number>": that is what its callbacks carry.
 */
export async function registerAdUnit(db: pg.ClientBase, network: string, givenUnit: string, appId: string): Promise<string> {
  checkApp(appId);
  if (!NETWORK.test(network)) throw new Error('network must be 1..32 of [a-z0-9_-]');
  const adUnit = network === 'admob' ? givenUnit.slice(givenUnit.lastIndexOf('/') + 1) : givenUnit;
  if (!adUnit || adUnit.length > 128) throw new Error('ad_unit must be 1..128 characters');
  const { rows } = await withApp(appId, () => db.query<{ app_id: string }>(s2sSql['register-ad-unit'], [network, adUnit, appId]));
  if (rows[0]!.app_id !== appId) throw new Error(`ad unit ${adUnit} of ${network} belongs to app ${rows[0]!.app_id}`);
  return `${network} ${adUnit} ${appId}`;
}

/** The `list` lines after the keys': campaigns, network secrets (never the secrets), ad units. */
export async function listS2s(db: pg.ClientBase): Promise<string[]> {
  const campaigns = await listCampaignOwners(db);
  const secrets = await listNetworkSecrets(db);
  const units = await listAdUnits(db);
  return [
    ...campaigns.map((c) => ['campaign', c.campaign_id, c.app_id ?? '(unowned)', c.postback_secret ? 'postback secret set' : 'no postback secret'].join('\t')),
    ...secrets.map((s) => ['network', s.network, s.app_id, s.secret_id, s.revoked_at ? `revoked ${s.revoked_at.toISOString()}` : 'active', s.created_at.toISOString()].join('\t')),
    ...units.map((u) => ['ad_unit', u.network, u.ad_unit, u.app_id].join('\t')),
  ];
}
