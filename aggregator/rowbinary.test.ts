import { describe, expect, it } from 'vitest';
import { EventType } from '../schemas/beacon-json.js';
import type { InEvent } from './records.js';
import { classify } from '../common/consumer-faults.js';
import { insertSql, layouts, RowSet, types, type ColumnType, type Layout } from './rowbinary.js';
import { attributionRow, confirmationRow, deadlineRow, eventRow, rowsOf, verificationRow, type Table } from './rows.js';
import { confirmation as testConfirmation, event as testEvent } from './test-rows.js';

const testLayout = (columns: Layout['columns']): Layout => ({
  table: 't',
  columns,
  identity: { sql: 'id', time: 't', of: (r) => [String(r.id), 0] },
});
/** The body of one row holding `v` in a column of `type`, as hex, or the refusal. */
function one(type: ColumnType, v: unknown): string {
  const set = new RowSet(testLayout([{ name: 'v', type }]));
  return set.add({ v }, 0) ?? set.body.toString('hex');
}
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b.toString('hex');
};
const i64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(n);
  return b.toString('hex');
};
const str = (s: string) => {
  const b = Buffer.from(s);
  return (b.length < 128 ? b.length.toString(16).padStart(2, '0') : '') + b.toString('hex');
};

describe('RowBinary values', () => {
  it.each([
    ['an empty String', types.String, '', '00'],
    ['an ASCII String', types.String, 'ab', '026162'],
    ['a String left out (undefined) as empty, like a key JSONEachRow left out', types.String, undefined, '00'],
    ['a String with a NUL', types.String, 'a\u0000b', '03610062'],
    ['a String of 2-byte UTF-8', types.String, 'é', '02c3a9'],
    ['a String of Chinese', types.String, '用户', str('用户')],
    ['a String with a 4-byte emoji (a surrogate pair)', types.String, 'x😀', '0578f09f9880'],
    ['a String of 127 bytes: a 1-byte length', types.String, 'a'.repeat(127), `7f${'61'.repeat(127)}`],
    ['a String of 128 bytes: a 2-byte length', types.String, 'a'.repeat(128), `8001${'61'.repeat(128)}`],
    ['a String of 300 bytes, not ASCII', types.String, 'é'.repeat(150), `ac02${'c3a9'.repeat(150)}`],
    ['a String of 127 characters, one not ASCII', types.String, `${'a'.repeat(126)}é`, `8001${'61'.repeat(126)}c3a9`],
    ['UInt64 0', types.UInt64, 0, u64(0n)],
    ['UInt64 2^32', types.UInt64, 2 ** 32, u64(2n ** 32n)],
    ['UInt64 2^53 - 1', types.UInt64, Number.MAX_SAFE_INTEGER, u64(2n ** 53n - 1n)],
    ['UInt64 2^63, as the decimal JSON sends (9223372036854776000)', types.UInt64, 2 ** 63, u64(9223372036854776000n)],
    [
      'UInt64: the largest double below 2^64, as JSON sends it',
      types.UInt64,
      2 ** 64 - 2048,
      u64(18446744073709550000n),
    ],
    ['UInt64: max, from a bigint', types.UInt64, 2n ** 64n - 1n, 'ffffffffffffffff'],
    ['UInt64 left out as 0', types.UInt64, undefined, u64(0n)],
    ['Int64 -1', types.Int64, -1, 'ffffffffffffffff'],
    ['Int64 -(2^53 - 1)', types.Int64, -Number.MAX_SAFE_INTEGER, i64(-(2n ** 53n - 1n))],
    ['Int64 -2^62, as JSON sends it', types.Int64, -(2 ** 62), i64(-4611686018427388000n)],
    ['Int64: the largest double below 2^63', types.Int64, 2 ** 63 - 1024, i64(9223372036854775000n)],
    ['DateTime 0', types.DateTime, 0, '00000000'],
    [
      'DateTime in seconds',
      types.DateTime,
      1_763_800_000,
      Buffer.from(new Uint32Array([1_763_800_000]).buffer).toString('hex'),
    ],
    ['DateTime 2^32 - 1', types.DateTime, 2 ** 32 - 1, 'ffffffff'],
    ['an Enum8 element by name', types.enum8({ A: 4, B: 5 }), 'B', '05'],
    ['an empty Array(String)', types.ArrayString, [], '00'],
    ['an Array(String)', types.ArrayString, ['a', '', 'é'], '03016100' + '02c3a9'],
  ])('writes %s', (_name, type, value, hex) => {
    expect(one(type, value)).toBe(hex);
  });

  it.each([
    ['a negative UInt64 (JSONEachRow: code 72)', types.UInt64, -5, 't.v: -5 is not a UInt64'],
    [
      'a UInt64 of 2^64 (JSONEachRow wrapped it to 384)',
      types.UInt64,
      2 ** 64,
      't.v: 18446744073709552000 is not a UInt64',
    ],
    ['a number JSON writes with an exponent (JSONEachRow: code 27)', types.UInt64, 1e21, 't.v: 1e+21 is not a UInt64'],
    ['a fraction (JSONEachRow: code 27)', types.Int64, 1.5, 't.v: 1.5 is not a Int64'],
    ['NaN', types.Int64, NaN, 't.v: NaN is not a Int64'],
    ['a string of digits where a number goes', types.UInt64, '5', 't.v: "5" is not a UInt64'],
    [
      '-2^63, which JSON sends as -9223372036854776000 (JSONEachRow wrapped it)',
      types.Int64,
      -(2 ** 63),
      't.v: -9223372036854776000 is not a Int64',
    ],
    ['a negative DateTime (JSONEachRow wrapped it)', types.DateTime, -1, "t.v: -1 is not a DateTime('UTC')"],
    [
      'a DateTime of 2^32 (JSONEachRow wrapped it to 0)',
      types.DateTime,
      2 ** 32,
      "t.v: 4294967296 is not a DateTime('UTC')",
    ],
    ['an unknown Enum8 element', types.enum8({ A: 4 }), 'C', 't.v: "C" is not an element of Enum8(\'A\' = 4)'],
    ['a lone high surrogate (JSONEachRow: code 25)', types.String, 'a\uD800b', 't.v: a lone surrogate'],
    ['a lone low surrogate in a long String', types.String, `${'a'.repeat(200)}\uDC00`, 't.v: a lone surrogate'],
    ['a number where a String goes (JSONEachRow: code 26)', types.String, 5, 't.v: 5 is not a String'],
    ['null where a String goes (JSONEachRow: code 26)', types.String, null, 't.v: null is not a String'],
    ['an array element not a String', types.ArrayString, ['a', 1], 't.v: 1 is not a String'],
  ])('refuses %s', (_name, type, value, reason) => {
    expect(one(type, value)).toBe(reason);
  });
});

describe('RowBinary bodies', () => {
  const layout = testLayout([
    { name: 's', type: types.String },
    { name: 'n', type: types.UInt64 },
  ]);
  const hex = (s: string, n: bigint) => `${str(s)}${u64(n)}`;

  it('writes rows one after another, growing the buffer past its first size', () => {
    const big = 'x'.repeat(100_000);
    const set = new RowSet(layout);
    set.add({ s: big, n: 1 }, 0);
    set.add({ s: 'é', n: 2 }, 0);
    expect(set.body.toString('hex')).toBe(`a08d06${'78'.repeat(100_000)}${u64(1n)}02c3a9${u64(2n)}`);
  });

  it('names the table and column of a value refused, and leaves the row out', () => {
    const set = new RowSet(layouts.events);
    expect(set.add(eventRow(event(), decision), 7)).toBeUndefined();
    const alone = set.body.toString('hex');
    expect(set.add(eventRow(event({ id: 'e-2', occurredAt: -5 }), decision), 8)).toBe(
      'events.occurred_at: -5 is not a UInt64',
    );
    expect([set.length, set.ids, set.origins, set.body.toString('hex')]).toEqual([1, ['e-1'], [7], alone]);
  });

  it("keeps each row's identity, time and origin, and filters and joins rows by them", () => {
    const set = new RowSet(layout);
    for (const [i, s] of ['a', 'bb', 'é'].entries()) set.add({ id: `r${i}`, s, n: i }, 10 + i);
    expect([set.ids, set.origins]).toEqual([
      ['r0', 'r1', 'r2'],
      [10, 11, 12],
    ]);
    const kept = set.filter((i) => set.origins[i] !== 11);
    expect([kept.ids, kept.body.toString('hex')]).toEqual([['r0', 'r2'], hex('a', 0n) + hex('é', 2n)]);
    const joined = RowSet.concat(layout, [kept, set.filter((i) => i === 1)]);
    expect([joined.ids, joined.origins, joined.body.toString('hex')]).toEqual([
      ['r0', 'r2', 'r1'],
      [10, 12, 11],
      hex('a', 0n) + hex('é', 2n) + hex('bb', 1n),
    ]);
  });

  it('refuses row objects it cannot hold as poison (rowsOf)', () => {
    const err = (() => {
      try {
        rowsOf({ events: [eventRow(event({ occurredAt: -5 }), decision)] });
      } catch (e) {
        return e;
      }
    })();
    expect(classify(err)).toEqual({
      kind: 'poison',
      code: 'unstorable_value',
      reason: 'unstorable_value: events.occurred_at: -5 is not a UInt64',
    });
  });

  it('names every column of the table in the INSERT, in the order of the body', () => {
    expect(insertSql(layouts.attributions)).toBe(
      'INSERT INTO attributions (`event_id`, `event_type`, `attributed_to`, `campaign_id`, `user_id`, `app_id`, `model`, `lag_ms`, `event_time`, `invalid_reason`) FORMAT RowBinary',
    );
    expect(insertSql(layouts.events)).toContain('`attrs.key`, `attrs.value`');
  });
});

const decision = { invalidReason: '', earns: true, attribution: { to: 'imp-1', model: 'view' as const, lagMs: 5_000 } };
const event = (over: Partial<InEvent> = {}) => testEvent('e-1', { type: EventType.REWARD_COMPLETE, ...over });
const confirmation = testConfirmation('tx', { eventId: 'e-1' });

describe('table layouts', () => {
  // A field rows.ts builds but no column carries would be left to its default by the explicit column list.
  it.each<[Table, object]>([
    ['events', eventRow(event(), decision)],
    ['attributions', attributionRow(event(), decision)!],
    ['deadlines', deadlineRow(event(), decision, 3_600_000)!],
    ['confirmations', confirmationRow(confirmation, 3_600_000)],
    [
      'verifications',
      verificationRow(
        { ...event(), invalidReason: '', attributed: true, windowMs: 3_600_000, flags: [] },
        confirmation,
        '',
      ),
    ],
  ])('carries every field of a %s row rows.ts builds, in its order', (table, row) => {
    expect(layouts[table].columns.map((c) => c.name)).toEqual(Object.keys(row));
    expect(new RowSet(layouts[table]).add(row, 0)).toBeUndefined();
  });
});
