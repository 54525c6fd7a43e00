// RowBinary inserts against the stack's ClickHouse: the same rows read back as after the JSONEachRow
// inserts they replace, each layout matches the migrated tables, and faults keep their classification.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify } from '../common/fault-codes.js';
import { EventType } from '../schemas/beacon-json.js';
import { migrateClickhouse } from '../schemas/migrate.js';
import { createTestClickhouse, env, silentLog } from '../test/support.js';
import type { Decision } from './attribution.js';
import type { InConfirmation } from './confirmations.js';
import type { InEvent } from './records.js';
import { layouts, type Layout } from './rowbinary.js';
import {
  attributionRow,
  confirmationRow,
  deadlineRow,
  emptyRows,
  eventRow,
  rowsOf,
  tables,
  verificationRow,
  type Table,
} from './rows.js';
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

const T = 1_763_800_000_000;
function event(id: string, over: Partial<InEvent> = {}): InEvent {
  return {
    id,
    type: EventType.IMPRESSION,
    time: T,
    receivedAt: T + 1_500,
    appId: 'app',
    userId: 'u',
    deviceId: 'd',
    campaignId: 'c',
    creativeId: 'cr',
    clickId: '',
    givt: '',
    position: `b:0:1:${id}`,
    offset: 1,
    index: 0,
    occurredAt: T - 7,
    sdk: 'ios/3.1',
    placementId: 'p',
    valueMicros: 0,
    currency: '',
    attrs: {},
    ipHash: 'ab12',
    uaClass: 'app',
    country: 'CN',
    ...over,
  };
}
function confirmation(transactionId: string, over: Partial<InConfirmation> = {}): InConfirmation {
  return {
    key: `admob:${transactionId}`,
    position: 'c:0:1:0',
    offset: 1,
    source: 'admob',
    transactionId,
    appId: 'app',
    userId: 'u',
    campaignId: 'c',
    eventId: 'e-complete',
    clickId: '',
    receivedAt: T + 9_000,
    occurredAt: T + 8_000,
    keyId: 'k1',
    adUnit: 'unit-1',
    rewardItem: 'coins',
    rewardAmount: 10,
    valueMicros: 0,
    currency: '',
    ...over,
  };
}
const valid: Decision = { invalidReason: '', earns: false };
const attributed = (to: string, model: 'click' | 'view', lagMs: number, invalidReason = ''): Decision => ({
  invalidReason,
  earns: !invalidReason,
  attribution: { to, model, lagMs },
});

/** Rows as rows.ts builds them, with the edge values each column allows. */
function edgeRows(): Record<Table, object[]> {
  const events: [InEvent, Decision][] = [
    [event('e-imp'), valid],
    [event('e-view', { type: EventType.VIEWABLE, attrs: { screen: 'home', ab: 'b' } }), valid],
    [event('e-click', { type: EventType.CLICK, clickId: 'ck-1' }), { invalidReason: 'click_flooding', earns: false }],
    [
      event('e-empty', {
        // every String empty, every number 0
        sdk: '',
        deviceId: '',
        creativeId: '',
        placementId: '',
        ipHash: '',
        uaClass: '',
        country: '',
        time: 0,
        receivedAt: 0,
        occurredAt: 0,
      }),
      valid,
    ],
    [
      event('e-unicode-用户', {
        // Chinese, 2-byte letters, a 4-byte emoji, a NUL, empty keys and values in attrs
        userId: 'usér-用户',
        sdk: 'sdk/😀',
        country: 'ü',
        attrs: { '😀': '中文', '': '', k: '', nul: 'a\u0000b' },
        currency: '€',
      }),
      { invalidReason: 'bot_user_agent', earns: false },
    ],
    [
      event('e-max', {
        // the largest values the row's numbers carry: what JSONEachRow sent is what is read back
        time: (2 ** 32 - 1) * 1000,
        receivedAt: (2 ** 32 - 1) * 1000 + 999,
        occurredAt: 2 ** 64 - 2048,
        valueMicros: Number.MAX_SAFE_INTEGER,
      }),
      valid,
    ],
    [
      event('e-big', { occurredAt: 2 ** 63, valueMicros: 2 ** 53 + 2, type: EventType.CONVERSION, currency: 'CNY' }),
      attributed('e-click', 'click', 0),
    ],
    [event('e-complete', { type: EventType.REWARD_COMPLETE }), attributed('e-imp', 'view', -(2 ** 62), '')],
    [
      event('e-late', { type: EventType.CONVERSION }),
      attributed('e-view', 'view', -Number.MAX_SAFE_INTEGER, 'click_injection'),
    ],
  ];
  const confirmations = [
    confirmation('tx-1'),
    confirmation('tx-empty', {
      campaignId: '',
      eventId: '',
      clickId: 'ck-1',
      keyId: '',
      adUnit: '',
      rewardItem: '',
      rewardAmount: 0,
      occurredAt: 0,
    }),
    confirmation('tx-neg-😀', {
      occurredAt: -5,
      rewardAmount: -(2 ** 62),
      valueMicros: 2 ** 63 - 1024,
      currency: '人民币',
      userId: 'usér-用户',
    }),
    confirmation('tx-min', {
      source: 'postback',
      occurredAt: -Number.MAX_SAFE_INTEGER,
      valueMicros: Number.MAX_SAFE_INTEGER,
      receivedAt: (2 ** 32 - 1) * 1000,
    }),
  ];
  const side = (e: InEvent, d: Decision) => ({
    ...e,
    invalidReason: d.invalidReason,
    attributed: !!d.attribution,
    windowMs: 3_600_000,
    flags: [],
  });
  return {
    events: events.map(([e, d]) => eventRow(e, d)),
    attributions: events.flatMap(([e, d]) => attributionRow(e, d) ?? []),
    deadlines: events.flatMap(([e, d]) => deadlineRow(e, d, 3_600_000) ?? []),
    confirmations: confirmations.map((c) => confirmationRow(c, 2 ** 53 - 1 - c.receivedAt)),
    verifications: [
      verificationRow(side(...events[7]!), confirmations[0]!, ''),
      verificationRow(side(...events[6]!), confirmations[3]!, 'type_mismatch'),
      verificationRow(undefined, confirmations[2]!, 'already_confirmed'),
    ],
  };
}

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
