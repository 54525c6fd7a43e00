// `npm run report` against a private ClickHouse database: the README's queries, as tables.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateClickhouse } from '../schemas/migrate.js';
import { createTestClickhouse, env, silentLog } from '../test/support.js';
import { formatTable, reportQueries, runReport } from './report.js';

let ch: Awaited<ReturnType<typeof createTestClickhouse>>;
beforeAll(async () => {
  ch = await createTestClickhouse('report');
  await migrateClickhouse(
    { CLICKHOUSE_URL: env.CLICKHOUSE_URL, CLICKHOUSE_DATABASE: ch.name },
    { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/clickhouse') },
  );
  const at = '2026-11-22 10:15:00';
  const event = (id: string, type: string, over: Record<string, unknown> = {}) => ({
    event_id: id,
    type,
    user_id: 'u1',
    campaign_id: 'c1',
    placement_id: 'p1',
    event_time: at,
    received_at: at,
    invalid_reason: '',
    ...over,
  });
  await ch.client.insert({
    table: 'events',
    format: 'JSONEachRow',
    values: [
      event('e1', 'IMPRESSION'),
      event('e2', 'IMPRESSION'),
      event('e3', 'IMPRESSION', { placement_id: 'p2' }),
      event('e4', 'IMPRESSION'),
      event('e5', 'CLICK'),
      event('e6', 'CONVERSION'),
      event('e7', 'CLICK', { invalid_reason: 'bot_user_agent' }),
    ],
  });
  await ch.client.insert({
    table: 'attributions',
    format: 'JSONEachRow',
    values: [
      {
        event_id: 'e6',
        event_type: 'CONVERSION',
        attributed_to: 'e5',
        campaign_id: 'c1',
        user_id: 'u1',
        model: 'click',
        lag_ms: 120_000,
        event_time: at,
        invalid_reason: '',
      },
    ],
  });
});
afterAll(() => ch?.drop());

describe('the analyst report', () => {
  it('prints CTR and conversion rate, conversions by model, top placements and the invalid share as tables', async () => {
    const report = await runReport({ clickhouse: ch.client, database: ch.name }, { maxRows: 20 });
    expect(report).toContain('## CTR and conversion rate by campaign and hour');
    expect(report).toMatch(/2026-11-22 10:00:00\s+c1\s+4\s+1\s+1\s+0\.25\s+1/);
    expect(report).toMatch(/c1\s+click\s+1\s+2\n/);
    expect(report).toMatch(/p1\s+3\s+1\n.*p2\s+1\s+0/s);
    expect(report).toMatch(/bot_user_agent\s+1\s+0\.1429/);
  });

  it('shows in the README exactly the SQL it runs', () => {
    const readme = readFileSync(join(import.meta.dirname, '../README.md'), 'utf8');
    for (const q of reportQueries()) expect(readme).toContain(`${q.sql};`);
  });

  it('lays rows out with numbers to the right and says when there are none', () => {
    expect(
      formatTable([
        { name: 'a', n: 5 },
        { name: 'bbb', n: 10 },
      ]),
    ).toBe('name   n\n----  --\na      5\nbbb   10');
    expect(formatTable([])).toBe('(no rows)');
  });
});
