// RowBinary inserts against the stack's ClickHouse: the same rows read back as after the JSONEachRow
// inserts they replace, each layout matches the migrated tables, and faults keep their classification.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify } from '../common/fault-codes.js';
import { migrateClickhouse } from '../schemas/migrate.js';
import { createTestClickhouse, env, silentLog } from '../test/support.js';
import { layouts, type Layout } from './rowbinary.js';
import { emptyRows, rowsOf, tables, type Table } from './rows.js';
import { edgeRows } from './test-rows.js';
import { createClickhouseWarehouse } from './warehouse-clickhouse.js';

type TestClickhouse = Awaited<ReturnType<typeof createTestClickhouse>>;
let json: TestClickhouse;
let binary: TestClickhouse;
beforeAll(async () => {
  [json, binary] = await Promise.all([createTestClickhouse('rowbinary_json'), createTestClickhouse('rowbinary')]);
  for (const ch of [json, binary]) {
    await migrateClickhouse(
      { CLICKHOUSE_URL: env.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: ch.name },
      { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/clickhouse') },
    );
  }
});
afterAll(async () => {
  await json?.drop();
  await binary?.drop();
});

async function readAll(ch: TestClickhouse, table: string): Promise<string[]> {
  const rows = await (await ch.client.query({ query: `SELECT * FROM ${table}`, format: 'JSONEachRow' })).json<object>();
  return rows.map((r) => JSON.stringify(r)).sort();
}

describe('RowBinary inserts', () => {
  it('read back exactly as the JSONEachRow inserts of the same rows, edge values included', async () => {
    const rows = edgeRows();
    for (const [t, l] of Object.entries(layouts) as [Table, Layout][]) {
      await json.client.insert({ table: l.table, values: rows[t], format: 'JSONEachRow' }); // the insert RowBinary replaces
    }
    // Two steps' sets of rows, as a group write sends them.
    const half = (from: number, to: number) =>
      rowsOf(Object.fromEntries(tables.map((t) => [t, rows[t].slice(from, to)])));
    await createClickhouseWarehouse({ clickhouse: binary.client }).insert([half(0, 2), half(2, Infinity)]);

    for (const [t, l] of Object.entries(layouts) as [Table, Layout][]) {
      const [fromJson, fromBinary] = await Promise.all([readAll(json, l.table), readAll(binary, l.table)]);
      expect(fromBinary, l.table).toEqual(fromJson);
      expect(fromBinary.length, l.table).toBe(rows[t].length);
    }
    const max = await binary.client.query({
      query: "SELECT toString(occurred_at) AS o, toUInt32(event_time) AS t FROM events WHERE event_id = 'e-max'",
      format: 'JSONEachRow',
    });
    expect(await max.json()).toEqual([{ o: '18446744073709550000', t: 4294967295 }]);
  });

  it('sends nothing for a write without rows', async () => {
    await createClickhouseWarehouse({ clickhouse: binary.client }).insert([emptyRows(), emptyRows()]);
  });

  it('finds the rows a table holds already, by their identity, and leaves the others (a retried write)', async () => {
    const fresh = await createTestClickhouse('rowbinary_landed');
    try {
      await migrateClickhouse(
        { CLICKHOUSE_URL: env.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: fresh.name },
        { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/clickhouse') },
      );
      const warehouse = createClickhouseWarehouse({ clickhouse: fresh.client });
      const rows = edgeRows();
      const landed = rowsOf({
        events: rows.events.slice(0, 3),
        confirmations: rows.confirmations.slice(0, 1),
        verifications: rows.verifications.slice(0, 1),
      });
      await warehouse.insert([landed]);
      const left = await warehouse.withoutLanded(rowsOf(rows));
      expect(Object.fromEntries(tables.map((t) => [t, left[t].ids]))).toEqual({
        ...Object.fromEntries(tables.map((t) => [t, rowsOf(rows)[t].ids])),
        events: rowsOf(rows).events.ids.slice(3),
        confirmations: rowsOf(rows).confirmations.ids.slice(1),
        verifications: rowsOf(rows).verifications.ids.slice(1),
      });
    } finally {
      await fresh.drop();
    }
  });

  it("keeps the server's error code on a refused insert (an unknown table: retried)", async () => {
    const bare = await createTestClickhouse('rowbinary_bare'); // no migrations: no tables
    try {
      const err = await createClickhouseWarehouse({ clickhouse: bare.client })
        .insert([rowsOf({ events: edgeRows().events })])
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(classify(err)).toMatchObject({ kind: 'retriable', code: 'clickhouse_60' });
    } finally {
      await bare.drop();
    }
  });

  it('lays out each table as the migrations leave it: every column without a default, in its type', async () => {
    for (const l of Object.values(layouts)) {
      const columns = await (
        await binary.client.query({
          query: `SELECT name, type, default_kind FROM system.columns WHERE database = '${binary.name}' AND table = '${l.table}'`,
          format: 'JSONEachRow',
        })
      ).json<{ name: string; type: string; default_kind: string }>();
      const sent = new Set(l.columns.map((c) => c.name));
      expect(
        l.columns.map((c) => [c.name, c.type.sql]),
        l.table,
      ).toEqual(columns.filter((c) => c.default_kind === '' || sent.has(c.name)).map((c) => [c.name, c.type]));
    }
  });
});
