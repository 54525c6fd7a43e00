import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createKafka } from '../common/kafka.js';
import { withDatabase } from '../common/config.js';
import {
  createTestClickhouse,
  createTestPostgres,
  dropTestPostgres,
  env,
  silentLog,
  uniqueName,
} from '../test/support.js';
import { ensureTopics, migrateClickhouse, migratePostgres } from './migrate.js';

const fixtureDir = (files: Record<string, string>) => {
  const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return dir;
};

describe('migrate', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('applies Postgres migrations once, in order, and refuses an edited one', async () => {
    const db = await createTestPostgres();
    cleanups.push(() => db.drop());
    const dir = fixtureDir({
      '0001_items.sql': 'create table items (id int primary key);\ninsert into items values (1);',
      '0002_more.sql': 'insert into items values (2);',
      'notes.txt': 'ignored',
    });
    expect(await migratePostgres({ DATABASE_URL: db.url }, { log: silentLog, dir })).toBe(2);
    expect(await migratePostgres({ DATABASE_URL: db.url }, { log: silentLog, dir })).toBe(0);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query('select id from items order by id');
    const { rows: recorded } = await client.query('select version, name from schema_migrations order by version');
    await client.end();
    expect(rows).toEqual([{ id: 1 }, { id: 2 }]);
    expect(recorded).toEqual([
      { version: 1, name: 'items' },
      { version: 2, name: 'more' },
    ]);

    writeFileSync(join(dir, '0002_more.sql'), 'insert into items values (3);');
    await expect(migratePostgres({ DATABASE_URL: db.url }, { log: silentLog, dir })).rejects.toThrow(
      /never edit an applied migration/,
    );
  });

  it('rolls back a failing Postgres migration whole and records nothing for it', async () => {
    const db = await createTestPostgres();
    cleanups.push(() => db.drop());
    const dir = fixtureDir({ '0001_bad.sql': 'create table half (id int);\nselect * from missing_table;' });
    await expect(migratePostgres({ DATABASE_URL: db.url }, { log: silentLog, dir })).rejects.toThrow(
      /0001_bad.sql failed/,
    );
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const { rows } = await client.query(
      "select to_regclass('half') as t, (select count(*)::int from schema_migrations) as n",
    );
    await client.end();
    expect(rows).toEqual([{ t: null, n: 0 }]);
  });

  it('creates the Postgres database named in the URL when it does not exist', async () => {
    const name = uniqueName('fresh');
    const url = withDatabase(env.DATABASE_URL, name);
    cleanups.push(() => dropTestPostgres(name));
    expect(
      await migratePostgres(
        { DATABASE_URL: url },
        { log: silentLog, dir: fixtureDir({ '0001_t.sql': 'create table t (x int);' }) },
      ),
    ).toBe(1);
  });

  it('applies multi-statement ClickHouse migrations once', async () => {
    const ch = await createTestClickhouse();
    cleanups.push(() => ch.drop());
    const dir = fixtureDir({
      '0001_events.sql':
        '-- two statements\nCREATE TABLE IF NOT EXISTS e (n UInt32) ENGINE = MergeTree ORDER BY n;\n' +
        'CREATE TABLE IF NOT EXISTS f (n UInt32) ENGINE = MergeTree ORDER BY n;\n',
    });
    const config = { CLICKHOUSE_URL: env.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: ch.name };
    expect(await migrateClickhouse(config, { log: silentLog, dir })).toBe(1);
    expect(await migrateClickhouse(config, { log: silentLog, dir })).toBe(0);
    const rs = await ch.client.query({
      query: `SELECT name FROM system.tables WHERE database = '${ch.name}' ORDER BY name`,
      format: 'JSONEachRow',
    });
    expect((await rs.json<{ name: string }>()).map((r) => r.name)).toEqual(['e', 'f', 'schema_migrations']);
  });

  it('creates topics with their partitions and retention, and grows partitions later', async () => {
    const kafka = createKafka({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'migrate-test' }, { log: silentLog });
    const spec = { name: uniqueName('topic'), partitions: 2, retentionMs: 3_600_000, key: 'k', value: 'v' };
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push(async () => {
      await admin.deleteTopics({ topics: [spec.name] });
      await admin.disconnect();
    });
    expect(await ensureTopics([spec], { kafka, log: silentLog })).toEqual([spec.name]);
    expect(await ensureTopics([{ ...spec, partitions: 3 }], { kafka, log: silentLog })).toEqual([]);
    const meta = await admin.fetchTopicMetadata({ topics: [spec.name] });
    expect(meta.topics[0]?.partitions).toHaveLength(3);
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: spec.name, configNames: ['retention.ms'] }],
    });
    expect(configs.resources[0]?.configEntries[0]?.configValue).toBe('3600000');
  });
});
