// ClickHouse side of the aggregator: batched inserts into ads.events and ads.attributions, and
// "which of these rows are already there?", asked for redelivered events and for a retried write.
// ClickHouse 18.16 has no query parameters, so ids are quoted here.
import type { ClickHouseClient } from '@clickhouse/client';
import type { AttributionRow, EventRow } from './rows.js';

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

export interface Rows { events: EventRow[]; attributions: AttributionRow[] }

export function createClickhouseWarehouse(deps: { clickhouse: ClickHouseClient }) {
  const ch = deps.clickhouse;

  /** The event ids of `rows` that `table` holds (rows carry event_time in seconds, which bounds the scan). */
  async function landed(table: 'events' | 'attributions', rows: { event_id: string; event_time: number }[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < rows.length; i += IDS_PER_QUERY) {
      const chunk = rows.slice(i, i + IDS_PER_QUERY);
      let from = Infinity;
      let to = -Infinity;
      for (const r of chunk) [from, to] = [Math.min(from, r.event_time), Math.max(to, r.event_time)];
      const rs = await ch.query({
        query: `SELECT event_id FROM ${table}
          WHERE event_time BETWEEN toDateTime(${from}) AND toDateTime(${to})
            AND event_id IN (${chunk.map((r) => quote(r.event_id)).join(',')})`,
        format: 'JSONEachRow',
      });
      for (const r of await rs.json<{ event_id: string }>()) found.add(r.event_id);
    }
    return found;
  }

  return {
    async insert(rows: Rows): Promise<void> {
      await Promise.all([
        rows.events.length > 0 && ch.insert({ table: 'events', values: rows.events, format: 'JSONEachRow' }),
        rows.attributions.length > 0 && ch.insert({ table: 'attributions', values: rows.attributions, format: 'JSONEachRow' }),
      ]).catch((err: unknown) => {
        throw withServerCode(err);
      });
    },
    /** `rows` without those ClickHouse already holds (a write that landed, or landed in part). */
    async withoutLanded(rows: Rows): Promise<Rows> {
      const [inEvents, inAttributions] = await Promise.all([landed('events', rows.events), landed('attributions', rows.attributions)]);
      return {
        events: rows.events.filter((r) => !inEvents.has(r.event_id)),
        attributions: rows.attributions.filter((r) => !inAttributions.has(r.event_id)),
      };
    },
  };
}
