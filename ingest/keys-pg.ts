// The signing-key cache: every key of Postgres in memory, reloaded on NOTIFY 'beacon_keys'.
import { createSecretKey } from 'node:crypto';
import type pg from 'pg';
import { createPgCache } from '../common/pg-cache.js';
import { loadSql } from '../common/sql.js';
import type { Logger } from '../common/log.js';
import type { KeyLookup, SigningKey } from './signature.js';

const sql = loadSql(new URL('./sql/', import.meta.url), ['list-keys', 'create-key', 'revoke-key'] as const);
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
        return keys;
      },
    },
  );
  const store: KeyLookup & { stop(): Promise<void>; readonly size: number } = {
    get: (keyId) => cache.value.get(keyId),
    get size() {
      return cache.value.size;
    },
    stop: () => cache.stop(),
  };
  return store;
}
