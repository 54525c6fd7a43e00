// The signing-key cache: every key of Postgres, and every origin apps registered for their pages, in
// memory, reloaded on NOTIFY 'beacon_keys'.
import { createSecretKey } from 'node:crypto';
import type pg from 'pg';
import { createPgCache } from '../common/pg-cache.js';
import { loadSql } from '../common/sql.js';
import type { Logger } from '../common/log.js';
import { originsOf, type Origins } from './cors.js';
import type { KeyLookup, SigningKey } from './signature.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'list-keys',
  'create-key',
  'revoke-key',
  'list-origins',
  'add-origin',
  'remove-origin',
] as const);
export { sql as keySql };

interface KeyRow {
  key_id: string;
  app_id: string;
  secret: string;
  created_at: Date;
  revoked_at: Date | null;
}

export async function listKeys(db: pg.ClientBase | pg.Pool): Promise<KeyRow[]> {
  return (await db.query<KeyRow>(sql['list-keys'])).rows;
}

export async function listOrigins(db: pg.ClientBase | pg.Pool) {
  return (await db.query<{ app_id: string; origin: string }>(sql['list-origins'])).rows;
}

export async function createPgKeyStore(config: { DATABASE_URL: string; refreshMs: number }, deps: { log: Logger }) {
  const cache = await createPgCache(
    { DATABASE_URL: config.DATABASE_URL, channel: 'beacon_keys', refreshMs: config.refreshMs },
    {
      log: deps.log,
      async load(db) {
        const keys = new Map<string, SigningKey>();
        for (const r of await listKeys(db)) {
          keys.set(r.key_id, {
            appId: r.app_id,
            secret: createSecretKey(Buffer.from(r.secret)),
            revoked: r.revoked_at !== null,
          });
        }
        return { keys, origins: originsOf(await listOrigins(db)) };
      },
    },
  );
  const store: KeyLookup & { origins: Origins; stop(): Promise<void>; readonly size: number } = {
    get: (keyId) => cache.value.keys.get(keyId),
    origins: {
      knows: (origin) => cache.value.origins.knows(origin),
      allows: (appId, origin) => cache.value.origins.allows(appId, origin),
    },
    get size() {
      return cache.value.keys.size;
    },
    stop: () => cache.stop(),
  };
  return store;
}
