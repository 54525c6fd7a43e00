// The aggregator's fraud signals for a set of persons: why their recent traffic was invalid. Two
// sources, joined: ClickHouse's analyst table `events` by (app_id, user_id) (another app's user of the
// same id is another person), which knows traffic after the last earning too; and the flags the
// persons' earnings carried (earnings.user_flags), which the money path knew before ClickHouse may
// hold the rows. Unreachable ClickHouse or Postgres throws, so nothing is paid unchecked.
import type { ClickHouseClient } from '@clickhouse/client';
import type pg from 'pg';
import { parsePerson, personKey } from '../common/person.js';
import { loadSql } from '../common/sql.js';

const sql = loadSql(new URL('./sql/', import.meta.url), ['flagged-persons'] as const);

/** A ClickHouse string literal (18.16 has no query parameters). */
const literal = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

export function createFraudSignals(
  config: { lookbackDays: number },
  deps: { clickhouse: ClickHouseClient; pool: pg.Pool },
) {
  /** Reasons by person key (`<app_id>:<user_id>`); a key that names no person is held too ('not_a_person'). */
  return async (persons: string[]): Promise<Map<string, string[]>> => {
    const unknown = new Map(persons.filter((key) => !parsePerson(key)).map((key) => [key, ['not_a_person']]));
    const pairs = persons.flatMap((key) => {
      const p = parsePerson(key);
      return p ? [`(${literal(p.appId)},${literal(p.userId)})`] : [];
    });
    if (config.lookbackDays === 0 || pairs.length === 0) return unknown;
    const result = await deps.clickhouse.query({
      query: `SELECT app_id, user_id, groupUniqArray(invalid_reason) AS reasons FROM events
        WHERE (app_id, user_id) IN (${pairs.join(',')}) AND invalid_reason != '' AND received_at >= now() - INTERVAL ${config.lookbackDays} DAY
        GROUP BY app_id, user_id`,
      format: 'JSONEachRow',
    });
    const rows = await result.json<{ app_id: string; user_id: string; reasons: string[] }>();
    const carried = await deps.pool.query<{ user_id: string; flags: string }>(sql['flagged-persons'], [
      persons,
      config.lookbackDays,
    ]);
    const reasons = new Map<string, Set<string>>();
    const add = (key: string, list: Iterable<string>) => {
      const set = reasons.get(key) ?? reasons.set(key, new Set()).get(key)!;
      for (const r of list) set.add(r);
    };
    for (const r of rows) add(personKey({ appId: r.app_id, userId: r.user_id }), r.reasons);
    for (const r of carried.rows) add(r.user_id, r.flags.split(' ').filter(Boolean));
    return new Map([...unknown, ...[...reasons].map(([key, set]) => [key, [...set].sort()] as const)]);
  };
}
