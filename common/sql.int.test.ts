import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestPostgres, silentLog } from '../test/support.js';
import { createPool } from './sql.js';

describe('createPool', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  // As when Postgres restarts: every connection dies, idle or checked out. Unhandled, node-postgres's
  // 'error' event would be an uncaught exception that fails this test (and took the services down).
  it('survives the server dropping its connections, idle and checked out, and reconnects', async () => {
    const db = await createTestPostgres();
    cleanups.push(() => db.drop());
    const pool = createPool({ url: db.url, max: 2 }, { log: silentLog });
    cleanups.push(() => pool.end());
    const held = await pool.connect();
    const idle = await pool.connect();
    idle.release();
    const killer = new pg.Client({ connectionString: db.url });
    await killer.connect();
    await killer.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    );
    await killer.end();
    await new Promise((r) => setTimeout(r, 200));
    await expect(held.query('select 1')).rejects.toThrow();
    held.release(true);
    const { rows } = await pool.query<{ ok: number }>('select 1 as ok');
    expect(rows).toEqual([{ ok: 1 }]);
  });
});
