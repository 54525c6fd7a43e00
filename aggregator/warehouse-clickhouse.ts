// ClickHouse side of the aggregator: batched inserts into ads.events and ads.attributions, and the
// "which of these are already there?" question asked for redelivered events. ClickHouse 18.16 has
// no query parameters, so ids are quoted here.
import type { ClickHouseClient } from '@clickhouse/client';
import type { AttributionRow, EventRow } from './rows.js';

const IDS_PER_QUERY = 2_000; // stays under ClickHouse's default max_query_size (256 KiB)
const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function createClickhouseWarehouse(deps: { clickhouse: ClickHouseClient }) {
  const ch = deps.clickhouse;
  return {
    async insert(rows: { events: EventRow[]; attributions: AttributionRow[] }): Promise<void> {
      await Promise.all([
        rows.events.length > 0 && ch.insert({ table: 'events', values: rows.events, format: 'JSONEachRow' }),
        rows.attributions.length > 0 && ch.insert({ table: 'attributions', values: rows.attributions, format: 'JSONEachRow' }),
      ]);
    },
    async existing(table: 'events' | 'attributions', ids: string[], fromMs: number, toMs: number): Promise<Set<string>> {
      const found = new Set<string>();
      for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
        const rs = await ch.query({
          query: `SELECT event_id FROM ${table}
            WHERE event_time BETWEEN toDateTime(${Math.floor(fromMs / 1000)}) AND toDateTime(${Math.ceil(toMs / 1000)})
              AND event_id IN (${ids.slice(i, i + IDS_PER_QUERY).map(quote).join(',')})`,
          format: 'JSONEachRow',
        });
        for (const r of await rs.json<{ event_id: string }>()) found.add(r.event_id);
      }
      return found;
    },
    async ping(): Promise<boolean> {
      return (await ch.ping()).success;
    },
  };
}
