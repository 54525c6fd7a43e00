// The audit: checks every money invariant (CONTRACTS.md §5) against the database. Each check is one
// query in sql/audit/ that returns the rows breaking its invariant (its header comment states it);
// the report shows each check's count and a sample.
import { readdirSync, readFileSync } from 'node:fs';
import type pg from 'pg';

const dir = new URL('./sql/audit/', import.meta.url);
const SAMPLE = 5;

export interface CheckResult { name: string; invariant: string; breaches: number; sample: Record<string, unknown>[] }

export function readChecks(): { name: string; invariant: string; sql: string }[] {
  return readdirSync(dir).filter((f) => f.endsWith('.sql')).sort().map((file) => {
    const sql = readFileSync(new URL(file, dir), 'utf8');
    const invariant = sql.split('\n').filter((l) => l.startsWith('--')).map((l) => l.slice(2).trim()).join(' ');
    return { name: file.slice(3, -4), invariant, sql };
  });
}

/** Runs every check in one repeatable-read snapshot, so concurrent posting cannot cause false alarms. */
export async function audit(db: pg.ClientBase): Promise<CheckResult[]> {
  await db.query('begin isolation level repeatable read read only');
  try {
    const results: CheckResult[] = [];
    for (const check of readChecks()) {
      const { rows } = await db.query<Record<string, unknown>>(check.sql);
      results.push({ name: check.name, invariant: check.invariant, breaches: rows.length, sample: rows.slice(0, SAMPLE) });
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
  return [...lines, failed === 0 ? `audit passed: ${results.length} checks` : `audit FAILED: ${failed} of ${results.length} checks`].join('\n');
}
