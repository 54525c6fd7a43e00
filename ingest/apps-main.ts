// `npm run apps -- create <app_id> | revoke <key_id> | list`: manages apps and their signing keys.
// `create` prints one line "<key_id> <secret>"; running collectors pick changes up within seconds.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { z } from 'zod';
import { loadConfig, stackEnv } from '../common/config.js';
import { keySql, listKeys } from './keys-pg.js';
import { APP_ID } from './validate.js';

const usage = 'usage: npm run apps -- create <app_id> | revoke <key_id> | list';
const { DATABASE_URL } = loadConfig(z.object(stackEnv), process.env);
const [command, arg] = process.argv.slice(2);
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
      console.log([k.app_id, k.key_id, k.revoked_at ? `revoked ${k.revoked_at.toISOString()}` : 'active', k.created_at.toISOString()].join('\t'));
    }
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
