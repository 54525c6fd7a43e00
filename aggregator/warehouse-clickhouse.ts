// ClickHouse side of the aggregator: batched inserts into the ads tables it fills, and "which of
// these rows are already there?", asked for redelivered records and for a retried write.
// ClickHouse 18.16 has no query parameters, so ids are quoted here.
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { insertSql, layouts, type Layout, type RowSet } from './rowbinary.js';
import { tables, type Rows } from './rows.js';

const IDS_PER_QUERY = 2_000; // stays under ClickHouse's default max_query_size (256 KiB)
const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The server's error code on the error, for classify (common/fault-codes.ts). @clickhouse/client
 * reads it from current servers' answers only; 18.16 answers `Code: <n>, e.displayText() = ...`.
 */
function withServerCode(err: unknown): unknown {
  const code = err instanceof Error && !('code' in err) ? /^Code: (\d+),/.exec(err.message)?.[1] : undefined;
  return code ? Object.assign(err as Error, { code, type: 'SERVER_ERROR' }) : err;
}

/** Which of the rows `ids` (at `times`, unix seconds) table `layout` holds: a column `id` of those found. */
export const landedQuery = ({ identity, table }: Layout, ids: string[], times: number[]) =>
  `SELECT ${identity.sql} AS id FROM ${table}
    WHERE ${identity.time} BETWEEN toDateTime(${Math.min(...times)}) AND toDateTime(${Math.max(...times)})
      AND ${identity.sql} IN (${ids.map(quote).join(',')})`;

export function createClickhouseWarehouse(deps: { clickhouse: ClickHouseClient }) {
  const ch = deps.clickhouse;

  /** The rows of `set` it does not hold; their time column (the partition key) bounds the search. */
  async function notLanded(set: RowSet): Promise<RowSet> {
    if (set.length === 0) return set;
    const found = new Set<string>();
    for (let i = 0; i < set.length; i += IDS_PER_QUERY) {
      const ids = set.ids.slice(i, i + IDS_PER_QUERY);
      const times = set.times.slice(i, i + IDS_PER_QUERY);
      const rs = await ch.query({ query: landedQuery(set.layout, ids, times), format: 'JSONEachRow' });
      for (const r of await rs.json<{ id: string }>()) found.add(r.id);
    }
    return set.filter((i) => !found.has(set.ids[i]!));
  }

  return {
    /** One RowBinary insert per table that has rows, the bodies of `parts` streamed one after another. */
    async insert(parts: readonly Rows[]): Promise<void> {
      await Promise.all(
        tables.map(async (t) => {
          const bodies = parts.filter((p) => p[t].length > 0).map((p) => p[t].body);
          if (bodies.length === 0) return;
          const { stream } = await ch.exec({ query: insertSql(layouts[t]), values: Readable.from(bodies) });
          await finished(stream.resume()); // drained, not destroyed: the socket goes back to the pool
        }),
      ).catch((err: unknown) => {
        throw withServerCode(err);
      });
    },
    /** `rows` without those ClickHouse already holds (a write that landed, or landed in part). */
    async withoutLanded(rows: Rows): Promise<Rows> {
      const out = {} as Rows;
      await Promise.all(tables.map(async (t) => void (out[t] = await notLanded(rows[t]))));
      return out;
    },
  };
}
