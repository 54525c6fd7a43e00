// Applies the numbered SQL migrations (schemas/migrations/{postgres,clickhouse}/NNNN_name.sql) and
// creates the Kafka topics of topics.ts. Idempotent: each database records what ran, with a checksum,
// and refuses to continue if an applied file was edited since (write a new migration instead).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import kafkajs, { type Kafka } from 'kafkajs';
import pg from 'pg';
import { withDatabase } from '../common/config.js';
import { PipelineError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { TopicSpec } from './topics.js';

export interface Migration {
  file: string;
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export function readMigrations(dir: string): Migration[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => {
      const sql = readFileSync(join(dir, file), 'utf8');
      return {
        file,
        version: Number(file.slice(0, 4)),
        name: file.slice(5, -4),
        sql,
        checksum: createHash('sha256').update(sql).digest('hex').slice(0, 16),
      };
    });
}

function checkUnchanged(m: Migration, recorded: string | undefined, where: string): boolean {
  if (recorded === undefined) return false;
  if (recorded !== m.checksum) {
    throw new PipelineError(
      'migration_changed',
      `${where} migration ${m.file} was applied with checksum ${recorded} but the file now has ` +
        `${m.checksum}; never edit an applied migration, add a new one`,
      { retriable: false },
    );
  }
  return true;
}

const identifier = (name: string) => {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new PipelineError('bad_identifier', `bad database name "${name}"`, { retriable: false });
  return name;
};

/** Creates the database named in the URL if needed, then applies each migration in one transaction. */
export async function migratePostgres(
  config: { DATABASE_URL: string },
  deps: { log: Logger; dir: string },
): Promise<number> {
  const url = new URL(config.DATABASE_URL);
  const database = identifier(url.pathname.slice(1));
  const admin = new pg.Client({ connectionString: withDatabase(config.DATABASE_URL, 'postgres') });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount)
      await admin.query(`create database "${database}"`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created concurrently by another migrator
      });
  } finally {
    await admin.end();
  }

  const client = new pg.Client({ connectionString: url.href });
  await client.connect();
  let applied = 0;
  try {
    // One migrator at a time per database; the lock is released when the session ends.
    await client.query("select pg_advisory_lock(hashtext('schema_migrations'))");
    await client.query(`create table if not exists schema_migrations (
      version int primary key, name text not null, checksum text not null,
      applied_at timestamptz not null default now())`);
    const { rows } = await client.query<{ version: number; checksum: string }>(
      'select version, checksum from schema_migrations',
    );
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    for (const m of readMigrations(deps.dir)) {
      if (checkUnchanged(m, done.get(m.version), 'postgres')) continue;
      await client.query('begin');
      try {
        await client.query(m.sql);
        await client.query('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [
          m.version,
          m.name,
          m.checksum,
        ]);
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw new PipelineError('migration_failed', `postgres migration ${m.file} failed: ${(err as Error).message}`, {
          retriable: false,
          cause: err,
        });
      }
      deps.log.info({ db: database, migration: m.file }, 'migration_applied');
      applied++;
    }
  } finally {
    await client.end();
  }
  return applied;
}

/** A ClickHouse migration's statements (one per `;` at a line's end; comment-only pieces dropped): ClickHouse runs one per request. */
export const clickhouseStatements = (sql: string): string[] =>
  sql
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter((s) => s && !/^(--[^\n]*\n?)*$/.test(s));

/**
 * ClickHouse has no transactions: each statement (files are split on `;` at line ends) must be
 * idempotent (IF NOT EXISTS), so a migration interrupted half-way is simply run again.
 */
export async function migrateClickhouse(
  config: { CLICKHOUSE_URL: string; CLICKHOUSE_DATABASE: string },
  deps: { log: Logger; dir: string },
): Promise<number> {
  const database = identifier(config.CLICKHOUSE_DATABASE);
  const root = createClient({ url: config.CLICKHOUSE_URL, log: { level: ClickHouseLogLevel.OFF } });
  await root.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` }).finally(() => root.close());
  // Migrations name tables without a database: they run with `database` set to the target.
  const ch = createClient({ url: config.CLICKHOUSE_URL, database, log: { level: ClickHouseLogLevel.OFF } });
  let applied = 0;
  try {
    await ch.command({
      query: `CREATE TABLE IF NOT EXISTS schema_migrations
      (version UInt32, name String, checksum String, applied_at DateTime DEFAULT now())
      ENGINE = MergeTree ORDER BY version`,
    });
    const rs = await ch.query({
      query: `SELECT version, any(checksum) AS checksum FROM schema_migrations GROUP BY version`,
      format: 'JSONEachRow',
    });
    const done = new Map(
      (await rs.json<{ version: number; checksum: string }>()).map((r) => [Number(r.version), r.checksum]),
    );
    for (const m of readMigrations(deps.dir)) {
      if (checkUnchanged(m, done.get(m.version), 'clickhouse')) continue;
      for (const statement of clickhouseStatements(m.sql)) {
        await ch.command({ query: statement }).catch((err: Error) => {
          throw new PipelineError('migration_failed', `clickhouse migration ${m.file} failed: ${err.message}`, {
            retriable: false,
            cause: err,
          });
        });
      }
      await ch.insert({
        table: 'schema_migrations',
        values: [{ version: m.version, name: m.name, checksum: m.checksum }],
        format: 'JSONEachRow',
      });
      deps.log.info({ db: database, migration: m.file }, 'migration_applied');
      applied++;
    }
  } finally {
    await ch.close();
  }
  return applied;
}

/** Creates missing topics, grows partition counts and sets retention; never deletes or shrinks. */
const configEntries = (t: TopicSpec) =>
  Object.entries({ 'retention.ms': String(t.retentionMs), ...t.configs }).map(([name, value]) => ({ name, value }));

export async function ensureTopics(specs: TopicSpec[], deps: { kafka: Kafka; log: Logger }): Promise<string[]> {
  const admin = deps.kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((t) => !existing.has(t.name));
    if (missing.length) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: -1,
          configEntries: configEntries(t),
        })),
      });
    }
    const present = specs.filter((t) => existing.has(t.name));
    if (present.length) {
      const meta = await admin.fetchTopicMetadata({ topics: present.map((t) => t.name) });
      const grow = present.filter(
        (t) => (meta.topics.find((m) => m.name === t.name)?.partitions.length ?? 0) < t.partitions,
      );
      if (grow.length)
        await admin.createPartitions({ topicPartitions: grow.map((t) => ({ topic: t.name, count: t.partitions })) });
      await admin.alterConfigs({
        validateOnly: false,
        resources: present.map((t) => ({
          type: kafkajs.ConfigResourceTypes.TOPIC,
          name: t.name,
          configEntries: configEntries(t),
        })),
      });
    }
    for (const t of missing) deps.log.info({ topic: t.name, partitions: t.partitions }, 'topic_created');
    return missing.map((t) => t.name);
  } finally {
    await admin.disconnect();
  }
}
