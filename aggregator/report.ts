// The analyst report (`npm run report`): the standard queries of the README, from sql/report/, run
// against ClickHouse and printed as tables. The files name the default database `ads`, so they can
// be pasted into clickhouse-client as they are; the report runs them in the configured database.
import { readdirSync, readFileSync } from 'node:fs';
import type { ClickHouseClient } from '@clickhouse/client';

const dir = new URL('./sql/report/', import.meta.url);

export const reportQueries = (): { title: string; sql: string }[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => {
      const sql = readFileSync(new URL(f, dir), 'utf8').trim();
      return { title: sql.split('\n')[0]!.replace(/^--\s*/, ''), sql };
    });

/** Rows as a plain-text table: a header, a rule, right-aligned numbers. */
export function formatTable(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(no rows)';
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((r) => columns.map((c) => String(r[c] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const numeric = columns.map((_, i) => cells.every((row) => /^-?[\d.]+$/.test(row[i]!)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

export async function runReport(
  deps: { clickhouse: ClickHouseClient; database: string },
  opts: { maxRows: number },
): Promise<string> {
  const sections: string[] = [];
  for (const q of reportQueries()) {
    const result = await deps.clickhouse.query({
      query: q.sql.replace(/\bads\./g, `${deps.database}.`),
      format: 'JSONEachRow',
    });
    const rows = await result.json<Record<string, unknown>>();
    const more = rows.length > opts.maxRows ? `\n(${rows.length - opts.maxRows} more rows)` : '';
    sections.push(`## ${q.title}\n${formatTable(rows.slice(0, opts.maxRows))}${more}`);
  }
  return sections.join('\n\n');
}
