// Loads the one-statement .sql files that hold a service's storage operations (see STYLE.md), and
// makes the Postgres pool the services run them on.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { Logger } from './log.js';

/** Reads `<dir>/<name>.sql` once; `dir` is a file URL such as new URL('./sql/', import.meta.url). */
export function loadSql<N extends string>(dir: URL, names: readonly N[]): Record<N, string> {
  return Object.fromEntries(names.map((n) => [n, readFileSync(new URL(`${n}.sql`, dir), 'utf8')])) as Record<N, string>;
}

/**
 * A Postgres pool for a long-running service. A connection that dies (the server restarts) fails
 * the queries on it and is replaced; without these listeners, node-postgres would also raise its
 * 'error' event with no one listening, idle or checked out, and take the process down.
 */
export function createPool(config: { url: string; max: number; options?: string }, deps: { log: Logger }): pg.Pool {
  const pool = new pg.Pool({ connectionString: config.url, max: config.max, options: config.options });
  const lost = (err: Error) => deps.log.warn({ err }, 'pg_connection_lost');
  pool.on('error', lost);
  pool.on('connect', (client) => client.on('error', lost));
  return pool;
}
