// The analyst SQL on current ClickHouse, beside the stack's 18.16: chDB (ClickHouse as a library,
// the release stack.sh pins) runs every ClickHouse migration, takes the aggregator's own RowBinary
// bodies for every table, and answers every report query, both views and the aggregator's "already
// landed?" query exactly as 18.16 does with the same rows.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportQueries } from '../aggregator/report.js';
import { layouts } from '../aggregator/rowbinary.js';
import {
  attributionRow,
  confirmationRow,
  deadlineRow,
  eventRow,
  rowsOf,
  tables,
  verificationRow,
  type Rows,
} from '../aggregator/rows.js';
import { attributed, confirmation, edgeRows, event, valid } from '../aggregator/test-rows.js';
import { createClickhouseWarehouse, landedQuery } from '../aggregator/warehouse-clickhouse.js';
import { root } from '../common/root.js';
import { EventType } from '../schemas/beacon-json.js';
import { clickhouseStatements, migrateClickhouse, readMigrations } from '../schemas/migrate.js';
import { createTestClickhouse, env, silentLog, stackDir } from './support.js';

const migrations = join(root, 'schemas/migrations/clickhouse');
const python = join(stackDir, 'chdb/bin/python');

type Answer = { engine: string; results?: Record<string, string>[][]; error?: string; sql?: string };
/** Runs `statements`, then `queries`, in a fresh chDB session (test/current-clickhouse.py). */
function chdb(statements: string[], queries: string[]): Answer {
  const run = spawnSync(python, [join(root, 'test/current-clickhouse.py')], {
    input: JSON.stringify({ statements, queries }),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0) throw new Error(`chDB did not run (${python}): ${run.stderr || run.error?.message}`);
  return JSON.parse(run.stdout) as Answer;
}

// The edge rows of the write-path tests, and rows near now for the `unverified` view (it lists what
// reached its deadline in the last 30 days): an unconfirmed completion, a confirmation that met no
// event, and a pair that met (so neither side is listed).
function testRows(): Rows {
  const edge = edgeRows();
  const now = Date.now();
  const hourAgo = { time: now - 3_600_000, receivedAt: now - 3_590_000, occurredAt: now - 3_600_000 };
  const complete = (id: string) => event(id, { ...hourAgo, type: EventType.REWARD_COMPLETE, campaignId: 'c-now' });
  const impression = event('n-imp', { ...hourAgo, campaignId: 'c-now' });
  const [alone, met] = [complete('n-alone'), complete('n-met')];
  const decided = attributed('n-imp', 'view', 5_000);
  const [stray, pair] = [
    confirmation('n-stray', { receivedAt: now - 3_000_000, eventId: 'nowhere' }),
    confirmation('n-pair', { receivedAt: now - 3_000_000, eventId: 'n-met' }),
  ];
  const side = { ...met, invalidReason: '', attributed: true, windowMs: 600_000, flags: [] };
  return rowsOf({
    events: [...edge.events, ...[impression, alone, met].map((e, i) => eventRow(e, i ? decided : valid))],
    attributions: [...edge.attributions, attributionRow(alone, decided)!, attributionRow(met, decided)!],
    deadlines: [...edge.deadlines, deadlineRow(alone, decided, 600_000)!, deadlineRow(met, decided, 600_000)!],
    confirmations: [...edge.confirmations, ...[stray, pair].map((c) => confirmationRow(c, 600_000))],
    verifications: [...edge.verifications, verificationRow(side, pair, '')],
  });
}

const rows = testRows();
const views = [
  'SELECT * FROM ads.campaign_hourly ORDER BY hour, campaign_id',
  'SELECT side, reason, event_id, event_type, source, transaction_id, app_id, user_id, campaign_id FROM ads.unverified ORDER BY side, event_id, transaction_id',
];
const landed = tables.map((t) => `SELECT id FROM (${landedQuery(layouts[t], rows[t].ids, rows[t].times)}) ORDER BY id`);
const queries = [...reportQueries().map((q) => q.sql), ...views, ...landed];
// 18.16's two differences, both at the ends of DateTime's range, which real rows never reach (the
// collector refuses times that far off; the edge rows hold them): it prints the zero time as zeros,
// and toStartOfHour of a time in the last hour DateTime holds wraps around to 1970.
const old1816 = new Map([
  ['0000-00-00 00:00:00', '1970-01-01 00:00:00'],
  ['1970-01-01 06:00:00', '2106-02-07 06:00:00'],
]);
/** An 18.16 row as current ClickHouse shows it: values as text (18.16 quotes 64-bit integers in JSON; current releases do not), the edges above mended. */
const asCurrent = (r: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, old1816.get(String(v)) ?? String(v)]));

let old: Awaited<ReturnType<typeof createTestClickhouse>>;
let files: string;
beforeAll(async () => {
  old = await createTestClickhouse('current');
  await migrateClickhouse(
    { CLICKHOUSE_URL: env.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: old.name },
    { log: silentLog, dir: migrations },
  );
  await createClickhouseWarehouse({ clickhouse: old.client }).insert([rows]);
  files = mkdtempSync(join(tmpdir(), 'chdb-rows-'));
});
afterAll(async () => {
  await old?.drop();
  if (files) rmSync(files, { recursive: true, force: true });
});

describe('the analyst SQL on current ClickHouse (chDB)', () => {
  it('runs every migration, takes the RowBinary rows, and answers every query as 18.16 does', async () => {
    // The aggregator's insert bodies, read by current ClickHouse from files with the layouts' types.
    const inserts = tables.map((t) => {
      const file = join(files, `${t}.bin`);
      writeFileSync(file, rows[t].body);
      const { table, columns } = layouts[t];
      const names = columns.map((c) => `\`${c.name}\``).join(', ');
      const structure = columns.map((c) => `\`${c.name}\` ${c.type.sql.replaceAll("'", "\\'")}`).join(', ');
      return `INSERT INTO ads.${table} (${names}) SELECT * FROM file('${file}', 'RowBinary', '${structure}')`;
    });
    const statements = readMigrations(migrations).flatMap((m) => clickhouseStatements(m.sql));
    const current = chdb(['CREATE DATABASE ads', 'USE ads', ...statements, ...inserts], queries);
    expect(current.error, `chDB ${current.engine} refused: ${current.sql}`).toBeUndefined();
    expect(current.engine).toMatch(/^2[6-9]\./);

    const onOld: Record<string, string>[][] = [];
    for (const sql of queries) {
      const rs = await old.client.query({ query: sql.replace(/\bads\./g, `${old.name}.`), format: 'JSONEachRow' });
      onOld.push((await rs.json<Record<string, unknown>>()).map(asCurrent));
    }
    queries.forEach((sql, i) => expect(current.results![i], sql).toEqual(onOld[i]));
    // Every query has rows to compare, and the view of what is unverified lists exactly the two.
    onOld.forEach((answer, i) => expect(answer.length, queries[i]).toBeGreaterThan(0));
    expect(onOld[reportQueries().length + 1]!.map((r) => `${r.side}:${r.event_id}:${r.transaction_id}`)).toEqual([
      'confirmation:nowhere:n-stray',
      'event:n-alone:',
    ]);
  });
});
