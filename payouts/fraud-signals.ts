// The aggregator's fraud signals for a set of users: why their recent traffic was invalid, read from
// ClickHouse's analyst table `events`. Unreachable ClickHouse throws, so nothing is paid unchecked.
import type { ClickHouseClient } from '@clickhouse/client';

/** A ClickHouse string literal (18.16 has no query parameters). */
const literal = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

export function createFraudSignals(config: { lookbackDays: number }, deps: { clickhouse: ClickHouseClient }) {
  return async (userIds: string[]): Promise<Map<string, string[]>> => {
    if (config.lookbackDays === 0 || userIds.length === 0) return new Map();
    const result = await deps.clickhouse.query({
      query: `SELECT user_id, groupUniqArray(invalid_reason) AS reasons FROM events
        WHERE user_id IN (${userIds.map(literal).join(',')}) AND invalid_reason != '' AND received_at >= now() - INTERVAL ${config.lookbackDays} DAY
        GROUP BY user_id`,
      format: 'JSONEachRow',
    });
    const rows = await result.json<{ user_id: string; reasons: string[] }>();
    return new Map(rows.map((r) => [r.user_id, r.reasons]));
  };
}
