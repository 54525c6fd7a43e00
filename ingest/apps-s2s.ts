// The ownership commands of `npm run apps` (CONTRACTS.md §7-§8): campaigns given to apps with their
// postback secrets, HMAC network secrets, ad units (AdMob's or an HMAC network's) registered to apps and
// bound to one of their campaigns. Each returns the line to print, or throws an Error whose message is
// for the operator.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { listAdUnits, listCampaignOwners, listNetworkSecrets, s2sSql, unitName } from './s2s-keys-pg.js';
import { isHmacNetwork } from './network-verify.js';
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
    if ((err as { code?: string }).code === '23503')
      throw new Error(`no app ${appId} (register it first: npm run apps -- create ${appId})`);
    throw err;
  }
}

/** Creates the campaign for the app, or assigns an unowned one; prints `<campaign_id> <postback_secret>`. */
export async function assignCampaign(db: pg.ClientBase, campaignId: string, appId: string): Promise<string> {
  checkApp(appId);
  if (!campaignId || campaignId.length > 64) throw new Error('campaign_id must be 1..64 characters');
  const { rows } = await withApp(appId, () =>
    db.query<{ app_id: string; postback_secret: string }>(s2sSql['assign-campaign'], [campaignId, appId, newSecret()]),
  );
  const row = rows[0]!;
  if (row.app_id !== appId) throw new Error(`campaign ${campaignId} belongs to app ${row.app_id}`);
  return `${campaignId} ${row.postback_secret}`;
}

/** Issues a secret for (network, app); prints `<secret_id> <secret>`. */
export async function createNetworkSecret(db: pg.ClientBase, network: string, appId: string): Promise<string> {
  checkApp(appId);
  if (!isHmacNetwork(network))
    throw new Error(
      "network must be 1..32 of [a-z0-9_-], not admob or postback (AdMob signs with Google's keys; postback names advertisers' postbacks)",
    );
  const secret = newSecret();
  const { rows } = await withApp(appId, () =>
    db.query<{ secret_id: string }>(s2sSql['create-network-secret'], [network, appId, secret]),
  );
  return `${rows[0]!.secret_id} ${secret}`;
}

export async function revokeNetworkSecret(db: pg.ClientBase, secretId: string): Promise<string> {
  if (!/^[1-9]\d{0,18}$/.test(secretId)) throw new Error('secret_id is a positive integer');
  const { rows } = await db.query<{ network: string; app_id: string }>(s2sSql['revoke-network-secret'], [secretId]);
  if (!rows.length) throw new Error(`no network secret ${secretId}`);
  return `revoked ${secretId} (${rows[0]!.network}, app ${rows[0]!.app_id})`;
}

/**
 * The arguments of `ad-unit`, checked before any query; returns the unit as stored. An AdMob unit is
 * stored by its number, the text after the '/' of "ca-app-pub-…/<number>": that is what its callbacks carry.
 */
export function adUnitArgs(network: string, givenUnit: string, appId: string, campaignId: string): string {
  checkApp(appId);
  if (network !== 'admob' && !isHmacNetwork(network))
    throw new Error('network must be admob or an HMAC network (1..32 of [a-z0-9_-], not postback)');
  const adUnit = unitName(network, givenUnit);
  if (!adUnit || adUnit.length > 128) throw new Error('ad_unit must be 1..128 characters');
  if (!campaignId || campaignId.length > 64) throw new Error('campaign_id must be 1..64 characters');
  return adUnit;
}

/**
 * Why the unit may not confirm for the campaign ('' when it may): the campaign must exist and belong
 * to the unit's app. `owner`: the campaign's app (undefined: no such campaign; null: no app).
 */
export function adUnitCampaignProblem(campaignId: string, appId: string, owner: string | null | undefined): string {
  if (owner === undefined)
    return `no campaign ${campaignId} (create it first: npm run apps -- campaign ${campaignId} ${appId})`;
  if (owner !== appId)
    return `campaign ${campaignId} belongs to ${owner === null ? 'no app' : `app ${owner}`}, not to app ${appId}`;
  return '';
}

/**
 * Registers an ad unit of a network to an app, bound to one of the app's campaigns: its callbacks
 * confirm only that campaign's events. Again for the same app it may change the campaign; a unit of
 * another app is refused.
 */
export async function registerAdUnit(
  db: pg.ClientBase,
  network: string,
  givenUnit: string,
  appId: string,
  campaignId: string,
): Promise<string> {
  const adUnit = adUnitArgs(network, givenUnit, appId, campaignId);
  const owner = (await db.query<{ app_id: string | null }>(s2sSql['campaign-owner'], [campaignId])).rows[0];
  const problem = adUnitCampaignProblem(campaignId, appId, owner ? owner.app_id : undefined);
  if (problem) throw new Error(problem);
  const { rows } = await db.query<{ app_id: string; campaign_id: string }>(s2sSql['register-ad-unit'], [
    network,
    adUnit,
    appId,
    campaignId,
  ]);
  if (rows[0]!.app_id !== appId) throw new Error(`ad unit ${adUnit} of ${network} belongs to app ${rows[0]!.app_id}`);
  return `${network} ${adUnit} ${appId} ${campaignId}`;
}

/** The `list` lines after the keys': campaigns, network secrets (never the secrets), ad units. */
export async function listS2s(db: pg.ClientBase): Promise<string[]> {
  const campaigns = await listCampaignOwners(db);
  const secrets = await listNetworkSecrets(db);
  const units = await listAdUnits(db);
  return [
    ...campaigns.map((c) =>
      [
        'campaign',
        c.campaign_id,
        c.app_id ?? '(unowned)',
        c.postback_secret ? 'postback secret set' : 'no postback secret',
      ].join('\t'),
    ),
    ...secrets.map((s) =>
      [
        'network',
        s.network,
        s.app_id,
        s.secret_id,
        s.revoked_at ? `revoked ${s.revoked_at.toISOString()}` : 'active',
        s.created_at.toISOString(),
      ].join('\t'),
    ),
    ...units.map((u) =>
      ['ad_unit', u.network, u.ad_unit, u.app_id, u.campaign_id ?? '(no campaign: callbacks refused)'].join('\t'),
    ),
  ];
}
