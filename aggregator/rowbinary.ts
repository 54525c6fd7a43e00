// RowBinary bodies for the aggregator's inserts: each table's columns in the order and types of
// schemas/migrations/clickhouse, written straight from rows.ts's row objects into one growing Buffer
// per table as a step decides them (RowSet). Cheaper to build than JSONEachRow, and the body lives off
// the JS heap while it waits for its group write.
import { ByteWriter } from './byte-writer.js';
import type { AttributionRow, ConfirmationRow, DeadlineRow, EventRow, Table, VerificationRow } from './rows.js';

/** LEB128 lengths, little-endian integers and strings, as RowBinary has them (a table a step has no rows for allocates nothing). */
class Writer extends ByteWriter {
  leb128(n: number): void {
    this.room(5);
    for (; n >= 0x80; n = Math.floor(n / 0x80)) this.buf[this.pos++] = (n & 0x7f) | 0x80;
    this.buf[this.pos++] = n;
  }
  u32(n: number): void {
    // n: an integer, written modulo 2^32
    this.room(4);
    const b = this.buf;
    b[this.pos] = n;
    b[this.pos + 1] = n >>> 8;
    b[this.pos + 2] = n >>> 16;
    b[this.pos + 3] = n >>> 24;
    this.pos += 4;
  }
  /** A String: its UTF-8 length, then its bytes. ASCII below 128 characters is copied by hand. */
  string(s: string): string | undefined {
    const n = s.length;
    if (n < 0x80) {
      this.room(1 + n);
      const b = this.buf;
      let p = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === n) {
        b[this.pos] = n;
        this.pos = p;
        return undefined;
      }
    }
    // Buffer#write would store a lone surrogate as U+FFFD, another value (JSONEachRow refused it: code 25).
    if (LONE_SURROGATE.test(s)) return 'a lone surrogate';
    const bytes = Buffer.byteLength(s, 'utf8');
    this.leb128(bytes);
    this.room(bytes);
    this.pos += this.buf.write(s, this.pos, bytes, 'utf8');
    return undefined;
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const TWO_32 = 2 ** 32;
const show = (v: unknown) =>
  typeof v === 'string' ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : String(v);

/**
 * A number's value as JSONEachRow sent it: its decimal form, which beyond 2^53 is the shortest one
 * that reads back as the same double (2^63 is sent as 9223372036854776000). Undefined: not an integer,
 * or written with an exponent (from 1e21: ClickHouse refused it, code 27).
 */
function exact(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) >= 1e21) return undefined;
  return BigInt(String(v));
}

/**
 * Writes `v` as the column's type, or says why it cannot: a value JSONEachRow would have refused
 * (negative unsigned, not an integer) or silently wrapped (beyond the type's range). `undefined` is
 * written as '', 0 or [], what ClickHouse put for a key JSONEachRow left out (an Enum8 refuses it).
 */
type Write = (w: Writer, v: unknown) => string | undefined;
export interface ColumnType {
  sql: string;
  write: Write;
}

function integer(sql: string, min: bigint, max: bigint, bytes: 4 | 8): ColumnType {
  const fast =
    bytes === 8 && min === 0n
      ? (v: number) => v >= 0 && v <= Number.MAX_SAFE_INTEGER
      : bytes === 8
        ? Number.isSafeInteger
        : (v: number) => v >= Number(min) && v <= Number(max);
  return {
    sql,
    write(w, v) {
      if (typeof v === 'number' && Number.isInteger(v) && fast(v)) {
        const lo = v >>> 0;
        w.u32(lo);
        if (bytes === 8) w.u32((v - lo) / TWO_32); // two's complement for negatives: u32 keeps the low 32 bits
        return undefined;
      }
      if (v === undefined) {
        w.room(bytes);
        w.buf.fill(0, w.pos, w.pos + bytes);
        w.pos += bytes;
        return undefined;
      }
      const big = exact(v);
      if (big === undefined || big < min || big > max) return `${show(v)} is not a ${sql}`;
      w.room(bytes);
      if (bytes === 4) w.pos = w.buf.writeUInt32LE(Number(big), w.pos);
      else w.pos = min === 0n ? w.buf.writeBigUInt64LE(big, w.pos) : w.buf.writeBigInt64LE(big, w.pos);
      return undefined;
    },
  };
}

export const types = {
  String: {
    sql: 'String',
    write: (w, v) =>
      typeof v === 'string' ? w.string(v) : v === undefined ? w.string('') : `${show(v)} is not a String`,
  } as ColumnType,
  UInt64: integer('UInt64', 0n, 2n ** 64n - 1n, 8),
  Int64: integer('Int64', -(2n ** 63n), 2n ** 63n - 1n, 8),
  /** Seconds since the epoch, a UInt32 (JSONEachRow wrapped a number beyond it). */
  DateTime: integer("DateTime('UTC')", 0n, 2n ** 32n - 1n, 4),
  ArrayString: {
    sql: 'Array(String)',
    write(w, v) {
      if (v === undefined) v = [];
      if (!Array.isArray(v)) return `${show(v)} is not an Array(String)`;
      w.leb128(v.length);
      for (const s of v) {
        const why = typeof s === 'string' ? w.string(s) : `${show(s)} is not a String`;
        if (why) return why;
      }
      return undefined;
    },
  } as ColumnType,
  /** An Enum8 written from its element's name, as a row holds it. */
  enum8(elements: Record<string, number>): ColumnType {
    const codes = new Map(Object.entries(elements));
    const sql = `Enum8(${Object.entries(elements)
      .map(([name, code]) => `'${name}' = ${code}`)
      .join(', ')})`;
    return {
      sql,
      write(w, v) {
        const code = typeof v === 'string' ? codes.get(v) : undefined;
        if (code === undefined) return `${show(v)} is not an element of ${sql}`;
        w.room(1);
        w.buf[w.pos++] = code;
        return undefined;
      },
    };
  },
};

/**
 * A row's identity in its table, which a retried write asks ClickHouse about: as SQL, and read from a
 * row with its time (the table's partition key, which bounds the search: `time`).
 */
export interface Identity {
  sql: string;
  time: string;
  of(row: Record<string, unknown>): [id: string, seconds: number];
}
const byEvent: Identity = {
  sql: 'event_id',
  time: 'event_time',
  of: (r) => [r.event_id as string, r.event_time as number],
};
const byConfirmation = (time: string): Identity => ({
  sql: "concat(source, ':', transaction_id)",
  time,
  of: (r) => [`${r.source as string}:${r.transaction_id as string}`, r[time] as number],
});

/** A table's columns, in the order a body carries them (each the row object's field of the same name), and its rows' identity. */
export interface Layout {
  table: string;
  columns: readonly { name: string; type: ColumnType }[];
  identity: Identity;
}

const eventType = types.enum8({ IMPRESSION: 1, VIEWABLE: 2, CLICK: 3, REWARD_COMPLETE: 4, CONVERSION: 5 });
const rewardableType = types.enum8({ REWARD_COMPLETE: 4, CONVERSION: 5 });
const { String: S, UInt64, Int64, DateTime, ArrayString } = types;
const layout = <R>(table: string, identity: Identity, columns: [keyof R & string, ColumnType][]): Layout => ({
  table,
  identity,
  columns: columns.map(([name, type]) => ({ name, type })),
});

/** Each table's columns as the migrations leave them (rowbinary.int.test.ts compares them with the server). */
export const layouts: Record<Table, Layout> = {
  events: layout<EventRow>('events', byEvent, [
    ['event_id', S],
    ['type', eventType],
    ['occurred_at', UInt64],
    ['event_time', DateTime],
    ['event_time_ms', UInt64],
    ['received_at', DateTime],
    ['received_at_ms', UInt64],
    ['app_id', S],
    ['sdk', S],
    ['user_id', S],
    ['device_id', S],
    ['campaign_id', S],
    ['creative_id', S],
    ['placement_id', S],
    ['click_id', S],
    ['value_micros', UInt64],
    ['currency', S],
    ['attrs.key', ArrayString],
    ['attrs.value', ArrayString],
    ['ip_hash', S],
    ['ua_class', S],
    ['country', S],
    ['invalid_reason', S],
  ]),
  attributions: layout<AttributionRow>('attributions', byEvent, [
    ['event_id', S],
    ['event_type', rewardableType],
    ['attributed_to', S],
    ['campaign_id', S],
    ['user_id', S],
    ['app_id', S],
    ['model', types.enum8({ click: 1, view: 2 })],
    ['lag_ms', Int64],
    ['event_time', DateTime],
    ['invalid_reason', S],
  ]),
  deadlines: layout<DeadlineRow>('verification_deadlines', byEvent, [
    ['event_id', S],
    ['event_type', rewardableType],
    ['app_id', S],
    ['user_id', S],
    ['campaign_id', S],
    ['event_time', DateTime],
    ['received_at_ms', UInt64],
    ['verify_by_ms', UInt64],
    ['invalid_reason', S],
  ]),
  confirmations: layout<ConfirmationRow>('confirmations', byConfirmation('received_at'), [
    ['source', S],
    ['transaction_id', S],
    ['app_id', S],
    ['user_id', S],
    ['campaign_id', S],
    ['event_id', S],
    ['click_id', S],
    ['received_at', DateTime],
    ['received_at_ms', UInt64],
    ['occurred_at', Int64],
    ['key_id', S],
    ['ad_unit', S],
    ['reward_item', S],
    ['reward_amount', Int64],
    ['value_micros', Int64],
    ['currency', S],
    ['verify_by_ms', UInt64],
  ]),
  verifications: layout<VerificationRow>('verifications', byConfirmation('decided_at'), [
    ['event_id', S],
    ['event_type', S],
    ['source', S],
    ['transaction_id', S],
    ['app_id', S],
    ['user_id', S],
    ['campaign_id', S],
    ['event_received_at_ms', UInt64],
    ['confirmed_at_ms', UInt64],
    ['decided_at', DateTime],
    ['reason', S],
  ]),
};

/** The INSERT a layout's body goes with; columns named, so a column added later with a default does not break it. */
export const insertSql = (l: Layout) =>
  `INSERT INTO ${l.table} (${l.columns.map((c) => `\`${c.name}\``).join(', ')}) FORMAT RowBinary`;

/**
 * One table's rows, encoded as they are added, so a step's output waits for its group write as bytes
 * rather than objects: the RowBinary body, and for each row where it ends, its identity and time (what
 * a retried write asks ClickHouse about) and the offset of the source record it came from (what a row
 * ClickHouse refuses dead-letters).
 */
export class RowSet {
  private readonly w = new Writer();
  private readonly ends: number[] = [];
  readonly ids: string[] = [];
  readonly times: number[] = [];
  readonly origins: number[] = [];
  constructor(readonly layout: Layout) {}

  get length(): number {
    return this.ends.length;
  }
  get body(): Buffer {
    return this.w.buf.subarray(0, this.w.pos);
  }

  /** Appends `row`, from the record at offset `origin`, or says why a column cannot hold it (`<table>.<column>: <why>`); then nothing is appended. */
  add(row: object, origin: number): string | undefined {
    const start = this.w.pos;
    const columns = this.layout.columns;
    for (let c = 0; c < columns.length; c++) {
      const column = columns[c]!;
      const why = column.type.write(this.w, (row as Record<string, unknown>)[column.name]);
      if (why !== undefined) {
        this.w.pos = start;
        return `${this.layout.table}.${column.name}: ${why}`;
      }
    }
    const [id, time] = this.layout.identity.of(row as Record<string, unknown>);
    this.ends.push(this.w.pos);
    this.ids.push(id);
    this.times.push(time);
    this.origins.push(origin);
    return undefined;
  }

  /** The rows for which `keep(i)` holds, in order, as a new set. */
  filter(keep: (i: number) => boolean): RowSet {
    const out = new RowSet(this.layout);
    for (let i = 0; i < this.length; i++) if (keep(i)) out.copy(this, i);
    return out;
  }

  /** Appends the rows of `from` (of the same table). */
  append(from: RowSet): void {
    for (let i = 0; i < from.length; i++) this.copy(from, i);
  }

  /** The rows of `sets` (of one table), in order, as one set. */
  static concat(layout: Layout, sets: readonly RowSet[]): RowSet {
    const out = new RowSet(layout);
    for (const s of sets) out.append(s);
    return out;
  }

  private copy(from: RowSet, i: number): void {
    const start = i === 0 ? 0 : from.ends[i - 1]!;
    const bytes = from.ends[i]! - start;
    this.w.room(bytes);
    from.w.buf.copy(this.w.buf, this.w.pos, start, start + bytes);
    this.w.pos += bytes;
    this.ends.push(this.w.pos);
    this.ids.push(from.ids[i]!);
    this.times.push(from.times[i]!);
    this.origins.push(from.origins[i]!);
  }
}
