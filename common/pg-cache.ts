// A table held in memory (hot paths never wait on the database): loaded at start, reloaded on each
// NOTIFY on `channel` and, in case a notification is missed while the listening connection is
// down, every `refreshMs`. Used for signing keys (ingest) and campaign settings (aggregator).
import type pg from 'pg';
import { createPool } from './sql.js';
import type { Logger } from './log.js';

export async function createPgCache<T>(
  config: { DATABASE_URL: string; channel: string; refreshMs: number },
  deps: { log: Logger; load(db: pg.Pool): Promise<T> },
) {
  const log = deps.log.child({ mod: `cache_${config.channel}` });
  const pool = createPool({ url: config.DATABASE_URL, max: 2 }, { log });
  let value = await deps.load(pool);
  let listener: pg.PoolClient | undefined;
  let stopped = false;

  async function reload(): Promise<void> {
    try {
      value = await deps.load(pool);
      log.debug('cache_reloaded');
    } catch (err) {
      log.warn({ err }, 'cache_reload_failed');
    }
  }

  async function listen(): Promise<void> {
    if (stopped || listener) return;
    try {
      const client = await pool.connect();
      client.on('notification', () => void reload());
      client.on('error', (err) => {
        log.warn({ err }, 'cache_listener_lost');
        client.release(true);
        listener = undefined;
      });
      await client.query(`listen ${config.channel}`);
      listener = client;
      await reload(); // anything that changed while we were not listening
    } catch (err) {
      log.warn({ err }, 'cache_listen_failed');
    }
  }

  await listen();
  const timer = setInterval(() => void (listener ? reload() : listen()), config.refreshMs);
  return {
    get value(): T {
      return value;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      listener?.release();
      await pool.end();
    },
  };
}
