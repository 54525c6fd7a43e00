// The audit: checks every money invariant (CONTRACTS.md §5) against the database. Each check is one
// query in sql/audit/ that returns the rows breaking its invariant (its header comment states it);
// the report shows each check's count and a sample.
import { readdirSync, readFileSync } from 'node:fs';
import type pg from 'pg';

const dir = new URL('./sql/audit/', import.meta.url);
const SAMPLE = 5;
/** Money held this long with no provider outcome is stranded (check stale-holds): two days, well past a transfer bill's 24 h wait for the user. */
export const DEFAULT_STALE_HOLD_MS = 48 * 3_600_000;

export interface CheckResult {
  name: string;
  invariant: string;
  breaches: number;
  sample: Record<string, unknown>[];
}

export function readChecks(): { name: string; invariant: string; sql: string }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((file) => {
      const sql = readFileSync(new URL(file, dir), 'utf8');
      const invariant = sql
        .split('\n')
        .filter((l) => l.startsWith('--'))
        .map((l) => l.slice(2).trim())
        .join(' ');
      return { name: file.slice(3, -4), invariant, sql };
    });
}

/**
 * Runs every check in one repeatable-read snapshot, so concurrent posting cannot cause false alarms.
 * The checks read their settings from the transaction (`audit.stale_hold_ms`).
 */
export async function audit(db: pg.ClientBase, opts: { staleHoldMs?: number } = {}): Promise<CheckResult[]> {
  await db.query('begin isolation level repeatable read read only');
  try {
    await db.query("select set_config('audit.stale_hold_ms', $1, true)", [
      String(opts.staleHoldMs ?? DEFAULT_STALE_HOLD_MS),
    ]);
    const results: CheckResult[] = [];
    for (const check of readChecks()) {
      const { rows } = await db.query<Record<string, unknown>>(check.sql);
      results.push({
        name: check.name,
        invariant: check.invariant,
        breaches: rows.length,
        sample: rows.slice(0, SAMPLE),
      });
    }
    return results;
  } finally {
    await db.query('rollback');
  }
}

export function formatReport(results: CheckResult[]): string {
  const lines = results.map((r) => {
    const head = `${r.breaches === 0 ? 'ok  ' : 'FAIL'} ${r.name}: ${r.invariant}`;
    return r.breaches === 0 ? head : `${head}\n     ${r.breaches} breach(es), e.g. ${JSON.stringify(r.sample)}`;
  });
  const failed = results.filter((r) => r.breaches > 0).length;
  return [
    ...lines,
    failed === 0 ? `audit passed: ${results.length} checks` : `audit FAILED: ${failed} of ${results.length} checks`,
  ].join('\n');
}
