// ClickHouse side of the aggregator: batched inserts into the ads tables it fills, and "which of
// these rows are already there?", asked for redelivered records and for a retried write.
// ClickHouse 18.16 has no query parameters, so ids are quoted here.
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { PipelineError } from '../common/errors.js';
import { encodeRows, insertSql, layouts } from './rowbinary.js';
import type { Rows } from './rows.js';

export type { Rows } from './rows.js';

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

/** A row's identity in its table, as SQL, and how to read it, with the row's time, from a row to insert. */
interface Identity<R> { sql: string; time: string; of(r: R): [id: string, seconds: number] }
const byEvent = <R extends { event_id: string; event_time: number }>(): Identity<R> => ({ sql: 'event_id', time: 'event_time', of: (r) => [r.event_id, r.event_time] });
const byConfirmation = <R extends { source: string; transaction_id: string }>(time: string, at: (r: R) => number): Identity<R> =>
  ({ sql: "concat(source, ':', transaction_id)", time, of: (r) => [`${r.source}:${r.transaction_id}`, at(r)] });

/** Table names in ClickHouse (schemas/migrations/clickhouse). */
const tableName: Record<keyof Rows, string> = {
  events: 'events', attributions: 'attributions', deadlines: 'verification_deadlines', confirmations: 'confirmations', verifications: 'verifications',
};
const tables = Object.keys(tableName) as (keyof Rows)[];

export function createClickhouseWarehouse(deps: { clickhouse: ClickHouseClient }) {
  const ch = deps.clickhouse;

  /** `rows` of `table` without those it holds; the time column (the partition key) bounds the search. */
  async function notLanded<R>(table: keyof Rows, rows: R[], identity: Identity<R>): Promise<R[]> {
    if (rows.length === 0) return rows;
    const found = new Set<string>();
    for (let i = 0; i < rows.length; i += IDS_PER_QUERY) {
      const chunk = rows.slice(i, i + IDS_PER_QUERY).map(identity.of);
      let from = Infinity;
      let to = -Infinity;
      for (const [, t] of chunk) [from, to] = [Math.min(from, t), Math.max(to, t)];
      const rs = await ch.query({
        query: `SELECT ${identity.sql} AS id FROM ${tableName[table]}
          WHERE ${identity.time} BETWEEN toDateTime(${from}) AND toDateTime(${to})
            AND ${identity.sql} IN (${chunk.map(([id]) => quote(id)).join(',')})`,
        format: 'JSONEachRow',
      });
      for (const r of await rs.json<{ id: string }>()) found.add(r.id);
    }
    return rows.filter((r) => !found.has(identity.of(r)[0]));
  }

  return {
    /**
     * One RowBinary insert per table that has rows (rowbinary.ts). Every body is encoded before any is
     * sent: a value its column cannot hold fails the whole insert as poison (`unstorable_value`), with
     * nothing written.
     */
    async insert(rows: Rows): Promise<void> {
      const bodies: [query: string, body: Buffer][] = [];
      for (const t of tables) {
        if (rows[t].length === 0) continue;
        const encoded = encodeRows(layouts[t], rows[t]);
        if (!encoded.ok) throw new PipelineError('unstorable_value', encoded.reason, { retriable: false });
        bodies.push([insertSql(layouts[t]), encoded.body]);
      }
      await Promise.all(bodies.map(async ([query, body]) => {
        const { stream } = await ch.exec({ query, values: Readable.from([body]) });
        await finished(stream.resume()); // drained, not destroyed: the socket goes back to the pool
      })).catch((err: unknown) => {
        throw withServerCode(err);
      });
    },
    /** `rows` without those ClickHouse already holds (a write that landed, or landed in part). */
    async withoutLanded(rows: Rows): Promise<Rows> {
      const [events, attributions, deadlines, confirmations, verifications] = await Promise.all([
        notLanded('events', rows.events, byEvent()),
        notLanded('attributions', rows.attributions, byEvent()),
        notLanded('deadlines', rows.deadlines, byEvent()),
        notLanded('confirmations', rows.confirmations, byConfirmation('received_at', (r) => r.received_at)),
        notLanded('verifications', rows.verifications, byConfirmation('decided_at', (r) => r.decided_at)),
      ]);
      return { events, attributions, deadlines, confirmations, verifications };
    },
  };
}
