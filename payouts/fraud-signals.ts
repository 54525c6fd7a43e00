// The aggregator's fraud signals for a set of persons: why their recent traffic was invalid, read from
// ClickHouse's analyst table `events` by (app_id, user_id), since another app's user of the same id is
// another person. Unreachable ClickHouse throws, so nothing is paid unchecked.
import type { ClickHouseClient } from '@clickhouse/client';
import { parsePerson, personKey } from '../common/person.js';

/** A ClickHouse string literal (18.16 has no query parameters). */
const literal = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

export function createFraudSignals(config: { lookbackDays: number }, deps: { clickhouse: ClickHouseClient }) {
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
    return new Map([...unknown, ...rows.map((r) => [personKey({ appId: r.app_id, userId: r.user_id }), r.reasons] as const)]);
  };
}
