// `npm run apps -- create <app_id> | revoke <key_id> | list`: manages apps, their signing keys and the
// web origins their pages post from, and (apps-s2s.ts) what they own: campaigns, network secrets, ad
// units. Running collectors pick changes up within seconds. `create` prints one line "<key_id> <secret>".
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { z } from 'zod';
import { loadConfig, stackEnv } from '../common/config.js';
import { assignCampaign, createNetworkSecret, listS2s, registerAdUnit, revokeNetworkSecret } from './apps-s2s.js';
import { parseOrigin } from './cors.js';
import { keySql, listKeys, listOrigins } from './keys-pg.js';
import { APP_ID } from './validate.js';

const usage =
  'usage: npm run apps -- create <app_id> | revoke <key_id> | list | campaign <campaign_id> <app_id>\n' +
  '  | origin <app_id> <origin> | origin-revoke <app_id> <origin>\n' +
  '  | network <network> <app_id> | network-revoke <secret_id> | ad-unit <network> <ad_unit> <app_id> <campaign_id>';
const { DATABASE_URL } = loadConfig(z.object(stackEnv), process.env);
const [command, arg, arg2, arg3, arg4] = process.argv.slice(2);
const db = new pg.Client({ connectionString: DATABASE_URL });
await db.connect();
try {
  if (command === 'create' && arg) {
    if (!APP_ID.test(arg)) throw new Error('app_id must be 1..64 of [A-Za-z0-9_.-]');
    const keyId = `k_${randomBytes(8).toString('hex')}`;
    const secret = randomBytes(32).toString('hex');
    await db.query(keySql['create-key'], [arg, keyId, secret]);
    console.log(`${keyId} ${secret}`);
  } else if (command === 'revoke' && arg) {
    const { rows } = await db.query(keySql['revoke-key'], [arg]);
    if (!rows.length) throw new Error(`no key ${arg}`);
    console.log(`revoked ${arg} (app ${rows[0].app_id})`);
  } else if (command === 'list') {
    for (const k of await listKeys(db)) {
      console.log(
        [
          k.app_id,
          k.key_id,
          k.revoked_at ? `revoked ${k.revoked_at.toISOString()}` : 'active',
          k.created_at.toISOString(),
        ].join('\t'),
      );
    }
    for (const o of await listOrigins(db)) console.log(`origin ${o.app_id} ${o.origin}`);
    for (const line of await listS2s(db)) console.log(line);
  } else if (command === 'origin' && arg && arg2) {
    const origin = parseOrigin(arg2);
    if (!origin) throw new Error(`${arg2} is not an origin: scheme, host and port only, as https://shop.example`);
    if (!(await db.query(keySql['add-origin'], [arg, origin])).rows.length) throw new Error(`no app ${arg}`);
    console.log(`origin ${arg} ${origin}`);
  } else if (command === 'origin-revoke' && arg && arg2) {
    const origin = parseOrigin(arg2) ?? arg2;
    if (!(await db.query(keySql['remove-origin'], [arg, origin])).rows.length)
      throw new Error(`app ${arg} has no origin ${origin}`);
    console.log(`revoked origin ${arg} ${origin}`);
  } else if (command === 'campaign' && arg && arg2) {
    console.log(await assignCampaign(db, arg, arg2));
  } else if (command === 'network' && arg && arg2) {
    console.log(await createNetworkSecret(db, arg, arg2));
  } else if (command === 'network-revoke' && arg) {
    console.log(await revokeNetworkSecret(db, arg));
  } else if (command === 'ad-unit' && arg && arg2 && arg3 && arg4) {
    console.log(await registerAdUnit(db, arg, arg2, arg3, arg4));
  } else {
    console.error(usage);
    process.exitCode = 2;
  }
} catch (err) {
  console.error(`apps: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await db.end();
}
