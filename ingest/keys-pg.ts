// The signing-key cache: every key loaded from Postgres into memory (the hot path never waits on
// the database), reloaded on each NOTIFY 'beacon_keys' and, in case a notification is missed while
// the listening connection is down, every `refreshMs`.
import { createSecretKey } from 'node:crypto';
import pg from 'pg';
import { loadSql } from '../common/sql.js';
import type { Logger } from '../common/log.js';
import type { KeyLookup, SigningKey } from './signature.js';

const sql = loadSql(new URL('./sql/', import.meta.url), ['list-keys', 'create-key', 'revoke-key'] as const);
export { sql as keySql };

interface KeyRow { key_id: string; app_id: string; secret: string; created_at: Date; revoked_at: Date | null }

export async function listKeys(db: pg.ClientBase | pg.Pool): Promise<KeyRow[]> {
  return (await db.query<KeyRow>(sql['list-keys'])).rows;
}

export async function createPgKeyStore(config: { DATABASE_URL: string; refreshMs: number }, deps: { log: Logger }) {
  const log = deps.log.child({ mod: 'keys' });
  const pool = new pg.Pool({ connectionString: config.DATABASE_URL, max: 2 });
  let keys = new Map<string, SigningKey>();
  let listener: pg.PoolClient | undefined;
  let stopped = false;

  async function reload(): Promise<void> {
    const next = new Map<string, SigningKey>();
    for (const r of await listKeys(pool)) {
      next.set(r.key_id, { appId: r.app_id, secret: createSecretKey(Buffer.from(r.secret)), revoked: r.revoked_at !== null });
    }
    keys = next;
    log.debug({ keys: next.size }, 'keys_loaded');
  }
  const reloadLogged = () => reload().catch((err: unknown) => log.warn({ err }, 'keys_reload_failed'));

  async function listen(): Promise<void> {
    if (stopped || listener) return;
    try {
      const client = await pool.connect();
      client.on('notification', () => void reloadLogged());
      client.on('error', (err) => {
        log.warn({ err }, 'keys_listener_lost');
        client.release(true);
        listener = undefined;
      });
      await client.query('listen beacon_keys');
      listener = client;
      await reload(); // anything that changed while we were not listening
    } catch (err) {
      log.warn({ err }, 'keys_listen_failed');
    }
  }

  await reload();
  await listen();
  const timer = setInterval(() => void (listener ? reloadLogged() : listen()), config.refreshMs);

  const store: KeyLookup & { stop(): Promise<void>; readonly size: number } = {
    get: (keyId) => keys.get(keyId),
    get size() {
      return keys.size;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      listener?.release();
      await pool.end();
    },
  };
  return store;
}
