// What verifies S2S callbacks, held in memory from Postgres: ad units with their apps and campaigns, HMAC network
// secrets, campaigns' owners and postback secrets. Reloaded on NOTIFY 's2s_keys' (and every refreshMs).
import { createSecretKey } from 'node:crypto';
import type pg from 'pg';
import { createPgCache } from '../common/pg-cache.js';
import { loadSql } from '../common/sql.js';
import type { Logger } from '../common/log.js';
import type { AdUnit } from './ad-unit.js';
import type { S2sKeys } from './confirmations.js';
import type { NetworkSecret } from './network-verify.js';
import type { CampaignSecret } from './postback-verify.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'list-ad-units',
  'list-network-secrets',
  'list-campaign-owners',
  'assign-campaign',
  'create-network-secret',
  'revoke-network-secret',
  'register-ad-unit',
  'campaign-owner',
] as const);
export { sql as s2sSql };

type Db = pg.ClientBase | pg.Pool;
interface AdUnitRow {
  network: string;
  ad_unit: string;
  app_id: string;
  campaign_id: string | null;
  created_at: Date;
}
interface SecretRow {
  secret_id: string;
  network: string;
  app_id: string;
  secret: string;
  created_at: Date;
  revoked_at: Date | null;
}
interface CampaignRow {
  campaign_id: string;
  app_id: string | null;
  postback_secret: string | null;
}

export const listAdUnits = async (db: Db) => (await db.query<AdUnitRow>(sql['list-ad-units'])).rows;
export const listNetworkSecrets = async (db: Db) => (await db.query<SecretRow>(sql['list-network-secrets'])).rows;
export const listCampaignOwners = async (db: Db) => (await db.query<CampaignRow>(sql['list-campaign-owners'])).rows;

interface Tables {
  adUnits: Map<string, AdUnit>;
  secrets: Map<string, NetworkSecret[]>;
  campaigns: Map<string, CampaignSecret>;
}
/** Map keys joining two names: '/' appears in neither a network name nor an app id. */
const pair = (a: string, b: string) => `${a}/${b}`;

/**
 * An ad unit as stored and looked up. AdMob's callbacks carry the unit's number ("2747237135"), not
 * its full id ("ca-app-pub-<publisher>/2747237135"): an AdMob unit is known by the text after its last '/'.
 */
export const unitName = (network: string, adUnit: string) =>
  network === 'admob' ? adUnit.slice(adUnit.lastIndexOf('/') + 1) : adUnit;
const unitKey = (network: string, adUnit: string) => pair(network, unitName(network, adUnit));

/**
 * Units by unitKey. A key two rows claim for different apps or campaigns (AdMob units written both as
 * "ca-app-pub-…/77" and "77", before the CLI stored numbers) names no unit: its callbacks are refused.
 */
function unitOwners(units: AdUnitRow[]): Map<string, AdUnit> {
  const owners = new Map<string, AdUnit>();
  const ambiguous = new Set<string>();
  for (const u of units) {
    const k = unitKey(u.network, u.ad_unit);
    const seen = owners.get(k);
    if (seen && (seen.appId !== u.app_id || seen.campaignId !== u.campaign_id)) ambiguous.add(k);
    owners.set(k, { appId: u.app_id, campaignId: u.campaign_id });
  }
  for (const k of ambiguous) owners.delete(k);
  return owners;
}

export async function loadS2sTables(db: Db): Promise<Tables> {
  const [units, secretRows, campaignRows] = await Promise.all([
    listAdUnits(db),
    listNetworkSecrets(db),
    listCampaignOwners(db),
  ]);
  const adUnits = unitOwners(units);
  const secrets = new Map<string, NetworkSecret[]>();
  for (const s of secretRows) {
    if (s.revoked_at) continue;
    const k = pair(s.network, s.app_id);
    (secrets.get(k) ?? secrets.set(k, []).get(k)!).push({
      secretId: s.secret_id,
      secret: createSecretKey(Buffer.from(s.secret)),
    });
  }
  const campaigns = new Map<string, CampaignSecret>();
  for (const c of campaignRows) {
    if (c.app_id && c.postback_secret)
      campaigns.set(c.campaign_id, { appId: c.app_id, secret: createSecretKey(Buffer.from(c.postback_secret)) });
  }
  return { adUnits, secrets, campaigns };
}

export async function createPgS2sKeys(config: { DATABASE_URL: string; refreshMs: number }, deps: { log: Logger }) {
  const cache = await createPgCache(
    { DATABASE_URL: config.DATABASE_URL, channel: 's2s_keys', refreshMs: config.refreshMs },
    {
      log: deps.log,
      load: loadS2sTables,
    },
  );
  const keys: S2sKeys & { stop(): Promise<void> } = {
    // An ad unit's name may hold '/' (AdMob's "ca-app-pub-…/…"); the network name never does.
    adUnit: (network, adUnit) => cache.value.adUnits.get(unitKey(network, adUnit)),
    networkSecrets: (network, appId) => cache.value.secrets.get(pair(network, appId)) ?? [],
    campaign: (campaignId) => cache.value.campaigns.get(campaignId),
    stop: () => cache.stop(),
  };
  return keys;
}
