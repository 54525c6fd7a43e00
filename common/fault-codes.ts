// Sorts a consumer's failure into a retriable fault (the same work may succeed later: retry it, and
// stall visibly if it never does) or poison (this input can never succeed: dead-letter it, move on).
// External error codes map through the table below, never through their messages (STYLE.md).
import { PipelineError } from './errors.js';

export type FaultKind = 'retriable' | 'poison';
export interface Fault {
  kind: FaultKind;
  code: string;
  reason: string;
}
export interface FaultCode {
  source: 'postgres' | 'clickhouse' | 'node' | 'kafka';
  code: string;
  retriable: boolean;
  meaning: string;
}

/** Postgres: a 5-character SQLSTATE, else its 2-character class. ClickHouse: its numeric error code. */
export const faultCodes: readonly FaultCode[] = [
  { source: 'postgres', code: '08', retriable: true, meaning: 'connection exception' },
  {
    source: 'postgres',
    code: '22',
    retriable: false,
    meaning: 'data exception: a value Postgres cannot store (NUL, bad encoding, too long, out of range)',
  },
  // A unique violation is a race the ledger retries (ledger-pg.ts); one that outlasts its retries is
  // still a race, not the record's fault.
  { source: 'postgres', code: '23505', retriable: true, meaning: 'unique violation: a concurrent writer' },
  {
    source: 'postgres',
    code: '23',
    retriable: false,
    meaning: 'integrity constraint violation (check, not null, foreign key, unique)',
  },
  { source: 'postgres', code: '25', retriable: true, meaning: 'invalid transaction state' },
  { source: 'postgres', code: '40', retriable: true, meaning: 'transaction rollback: serialization failure, deadlock' },
  // An undefined table or column, or a missing privilege, is the deployment's fault, never the
  // record's: a migration not applied yet. Retried, it becomes visible as a stall.
  {
    source: 'postgres',
    code: '42',
    retriable: true,
    meaning: 'syntax error or access rule violation (undefined table during a deploy)',
  },
  { source: 'postgres', code: '53', retriable: true, meaning: 'insufficient resources (disk, memory, connections)' },
  {
    source: 'postgres',
    code: '54000',
    retriable: false,
    meaning: 'program limit exceeded by a value (an index row too large)',
  },
  { source: 'postgres', code: '55', retriable: true, meaning: 'object not in prerequisite state' },
  { source: 'postgres', code: '55P03', retriable: true, meaning: 'lock not available' },
  { source: 'postgres', code: '57', retriable: true, meaning: 'operator intervention (shutdown, cancel)' },
  { source: 'postgres', code: '58', retriable: true, meaning: 'system error (I/O)' },
  { source: 'postgres', code: 'XX', retriable: true, meaning: 'internal error' },
  // ClickHouse: the codes of input it cannot parse or store. Every other code (timeouts, too many
  // parts, memory, unknown table during a deploy) is retried, and so are the codes a schema change
  // not migrated yet gives (an unknown field: 117; a column of another type: 53): our code builds
  // the rows, so those are the deployment's fault, never the record's.
  ...(
    [
      ['6', 'CANNOT_PARSE_TEXT'],
      ['25', 'CANNOT_PARSE_ESCAPE_SEQUENCE'],
      ['26', 'CANNOT_PARSE_QUOTED_STRING'],
      ['27', 'CANNOT_PARSE_INPUT_ASSERTION_FAILED'],
      ['38', 'CANNOT_PARSE_DATE'],
      ['41', 'CANNOT_PARSE_DATETIME'],
      ['69', 'ARGUMENT_OUT_OF_BOUND'],
      ['70', 'CANNOT_CONVERT_TYPE'],
      ['72', 'CANNOT_PARSE_NUMBER'],
      ['131', 'TOO_LARGE_STRING_SIZE'],
      ['321', 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE'],
      ['349', 'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN'],
      ['469', 'VIOLATED_CONSTRAINT'],
      ['691', 'UNKNOWN_ELEMENT_OF_ENUM'],
    ] as const
  ).map(([code, name]) => ({
    source: 'clickhouse' as const,
    code,
    retriable: false,
    meaning: `${name}: input it cannot parse or store`,
  })),
  // Our producer's broker faults (common/kafka-wire.ts) say whether the same produce request may
  // succeed; for a consumer's step, only those about the records themselves are poison. The rest
  // (a fenced or unknown producer id, a broker error) pass once the producer is replaced.
  ...(['corrupt_message', 'message_too_large', 'invalid_record'] as const).map((code) => ({
    source: 'kafka' as const,
    code,
    retriable: false,
    meaning: 'the broker refuses the records themselves',
  })),
  ...[
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EPIPE',
    'ENOTFOUND',
    'EAI_AGAIN',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'ECONNABORTED',
  ].map((code) => ({ source: 'node' as const, code, retriable: true, meaning: 'network' })),
];

const byKey = new Map(faultCodes.map((f) => [`${f.source}:${f.code}`, f]));
const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The table's verdict on one error, without its causes; undefined when the error is not one it knows. */
function verdict(e: Record<string, unknown>): { retriable: boolean; code: string } | undefined {
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (e instanceof PipelineError && e.source === 'kafka')
    return { retriable: byKey.get(`kafka:${e.code}`)?.retriable ?? true, code: e.code };
  if (e instanceof PipelineError) return { retriable: e.retriable, code: e.code };
  if (code && SQLSTATE.test(code) && 'severity' in e) {
    // a Postgres server error (pg's DatabaseError)
    const row = byKey.get(`postgres:${code}`) ?? byKey.get(`postgres:${code.slice(0, 2)}`);
    return { retriable: row?.retriable ?? true, code: `sqlstate_${code}` };
  }
  if (code && /^\d+$/.test(code) && typeof e.type === 'string') {
    // a ClickHouse server error
    return { retriable: byKey.get(`clickhouse:${code}`)?.retriable ?? true, code: `clickhouse_${code}` };
  }
  if (code && byKey.get(`node:${code}`)) return { retriable: true, code };
  if (typeof e.name === 'string' && e.name.startsWith('KafkaJS')) return { retriable: true, code: e.name }; // a broker away, a rebalance
  return undefined;
}

/**
 * Retriable or poison, with a code for metrics and a reason `<code>: <message>` for a dead letter.
 * Causes are followed; what the table does not know is retriable: data is never dropped on an
 * unknown fault, which shows as a stall instead.
 */
export function classify(err: unknown): Fault {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e && typeof e === 'object'; depth++, e = (e as { cause?: unknown }).cause) {
    const v = verdict(e as Record<string, unknown>);
    if (v)
      return { kind: v.retriable ? 'retriable' : 'poison', code: v.code, reason: `${v.code}: ${(e as Error).message}` };
  }
  return { kind: 'retriable', code: 'unknown', reason: `unknown: ${(err as Error)?.message ?? String(err)}` };
}
