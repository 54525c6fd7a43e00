import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { claimId, openClaimStore, type ClaimStoreConfig } from './claims.js';
import { FILTER_BLOCK_BYTES, falsePositiveRate, planFilters } from './claims-filter.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'claims-test-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const id = (n: number) => createHash('sha256').update(`id ${n}`).digest().subarray(0, 16);
const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => id(from + i));
const files = (dir: string, re: RegExp) =>
  readdirSync(dir)
    .filter((f) => re.test(f))
    .sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));

/** A store over a fake clock, reopened on the same directory and config by `reopen`. */
function fixture(config: Omit<ClaimStoreConfig, 'dir'>, t0 = 1_000_000) {
  const dir = tempDir();
  const clock = { t: t0 };
  const open = () => openClaimStore({ dir, ...config }, { now: () => clock.t });
  const f = {
    dir,
    clock,
    store: open(),
    reopen: (close = true) => {
      if (close) f.store.close();
      f.store = open();
      return f.store;
    },
  };
  return f;
}

describe('claimId', () => {
  const sha = (text: string) => {
    const h = createHash('sha256').update(text).digest().subarray(0, 16);
    h[8] = h[8]! | 0xe0;
    return h.toString('hex');
  };
  it.each([
    [
      'a canonical lower-case UUID is its own 16 bytes',
      '0f8fad5b-d9cb-469f-a165-70867728950e',
      '0f8fad5bd9cb469fa16570867728950e',
    ],
    [
      'an upper-case UUID is not canonical: it is hashed (the collector lowercases ids)',
      '0F8FAD5B-D9CB-469F-A165-70867728950E',
      sha('k:0F8FAD5B-D9CB-469F-A165-70867728950E'),
    ],
    ['a confirmation key is hashed', 'conf:admob:tx-1', sha('k:conf:admob:tx-1')],
    [
      'a UUID of the reserved variant 111 is hashed, so no UUID can equal a hashed key',
      '0f8fad5b-d9cb-469f-e165-70867728950e',
      sha('k:0f8fad5b-d9cb-469f-e165-70867728950e'),
    ],
    [
      'a UUID without its dashes is hashed',
      '0f8fad5bd9cb469fa16570867728950e',
      sha('k:0f8fad5bd9cb469fa16570867728950e'),
    ],
    [
      '36 characters with a dash out of place are hashed',
      '0f8fad5bd-9cb-469f-a165-70867728950e',
      sha('k:0f8fad5bd-9cb-469f-a165-70867728950e'),
    ],
    [
      'a UUID with a letter past f is hashed',
      '0f8fad5b-d9cb-469f-a165-70867728950g',
      sha('k:0f8fad5b-d9cb-469f-a165-70867728950g'),
    ],
    [
      'a UUID with a character past ASCII is hashed',
      '0f8fad5b-d9cb-469f-a165-70867728950\u0130',
      sha('k:0f8fad5b-d9cb-469f-a165-70867728950\u0130'),
    ],
  ])('%s', (_name, text, hex) => {
    expect(claimId(text).toString('hex')).toBe(hex);
    expect(claimId(text)).toHaveLength(16);
  });

  it('gives a confirmation key the same claim every time, and different keys different claims', () => {
    expect(claimId('conf:admob:tx-1').equals(claimId('conf:admob:tx-1'))).toBe(true);
    expect(claimId('conf:admob:tx-1').equals(claimId('conf:admob:tx-2'))).toBe(false);
  });
});

describe('claims filter budget', () => {
  const runs = [
    { count: 700_000, fileLog2: 16 },
    { count: 700_000, fileLog2: 16 },
    { count: 40_000, fileLog2: 12 },
    { count: 20_000, fileLog2: 11 },
  ];
  const full = runs.reduce((n, r) => n + FILTER_BLOCK_BYTES * 2 ** r.fileLog2, 0);
  it.each([
    ['keeps every filter whole when the budget holds them', full, 0.02],
    ['folds them to about the same density when it holds half', full / 2, 0.07],
    ['starves none of them when it holds a quarter', full / 4, 0.35],
  ])('%s', (_name, budget, worst) => {
    const log2 = planFilters(runs, budget);
    expect(log2.reduce((n, l) => n + FILTER_BLOCK_BYTES * 2 ** l, 0)).toBeLessThanOrEqual(budget);
    log2.forEach((l, i) => expect(falsePositiveRate(runs[i]!.count, l)).toBeLessThanOrEqual(worst));
  });
});

describe('claims store', () => {
  const slice = 1_000;
  const windowMs = 10_000; // shorter than 24 slices × 4: runs merge within a slice only

  it.each([
    ['an id added now', 0, 0, true],
    ['an id never added', null, 0, false],
    ['an id added within the window, after its slice was sealed', 0, windowMs - 1, true],
    ['an id added a window and a slice ago (expired)', 0, windowMs + slice, false],
    ['an id added near the end of its slice, a window and a slice later', 999, windowMs + 2 * slice, false],
  ])('answers %s: %s', async (_name, addedAt, checkedAfter, want) => {
    const f = fixture({ windowMs, sliceMs: slice });
    const t0 = f.clock.t;
    if (addedAt !== null) {
      f.clock.t = t0 + addedAt;
      f.store.add([id(1)], f.clock.t, 1);
    }
    f.store.add([id(2)], f.clock.t, 2);
    for (let t = t0; t < t0 + checkedAfter; t += 250) {
      f.clock.t = t;
      await f.store.maintain(t);
    }
    f.clock.t = t0 + checkedAfter;
    await f.store.maintain(f.clock.t);
    expect(f.store.has(id(1))).toBe(want);
    f.store.close();
  });

  it('keeps every id of the window across slice seals and merges, with few runs', async () => {
    const f = fixture({ windowMs: 100 * slice, sliceMs: slice, memtableIds: 400 });
    const added: { at: number; ids: Buffer[] }[] = [];
    for (let i = 0; i < 150 * 4; i++) {
      f.clock.t += slice / 4;
      const batch = ids(i * 50, i * 50 + 50);
      f.store.add(batch, f.clock.t, i);
      added.push({ at: f.clock.t, ids: batch });
      await f.store.maintain(f.clock.t);
    }
    const now = f.clock.t;
    const live = added.filter((a) => a.at + 100 * slice > now).flatMap((a) => a.ids);
    const gone = added.filter((a) => a.at + 124 * slice <= now).flatMap((a) => a.ids);
    expect(live.every((x) => f.store.has(x))).toBe(true);
    expect(gone.some((x) => f.store.has(x))).toBe(false);
    expect(ids(10_000_000, 10_010_000).some((x) => f.store.has(x))).toBe(false);
    const s = f.store.stats();
    expect(s.runs).toBeLessThanOrEqual(12); // ≥ 100 slices sealed, merged by 6 and 24
    expect(s.ids).toBeGreaterThanOrEqual(live.length);
    expect(s.diskBytes / s.ids).toBeLessThanOrEqual(32);
    f.store.close();
  });

  it('reopens after close with the same ids and throughSeq', async () => {
    const f = fixture({ windowMs, sliceMs: slice });
    f.store.add(ids(0, 100), f.clock.t, 7);
    f.clock.t += 2 * slice;
    await f.store.maintain(f.clock.t); // sealed into a run
    f.store.add(ids(100, 200), f.clock.t, 9); // still in the log
    const s = f.reopen();
    expect(s.throughSeq()).toBe(9);
    expect(ids(0, 200).every((x) => s.has(x))).toBe(true);
    expect(s.has(id(200))).toBe(false);
    expect(s.stats().ids).toBe(200);
    s.close();
  });

  it('drops a torn last log record after a crash: its ids absent, throughSeq the record before', () => {
    const f = fixture({ windowMs, sliceMs: slice });
    f.store.add(ids(0, 10), f.clock.t, 1);
    f.store.add(ids(10, 20), f.clock.t, 2);
    const logFile = join(f.dir, files(f.dir, /^log-/).at(-1)!);
    truncateSync(logFile, readFileSync(logFile).length - 7); // the process died inside the second write
    let s = f.reopen(false);
    expect(s.throughSeq()).toBe(1);
    expect(ids(0, 10).every((x) => s.has(x))).toBe(true);
    expect(ids(10, 20).some((x) => s.has(x))).toBe(false);
    s.add(ids(10, 20), f.clock.t, 2); // the owner replays entry 2
    s = f.reopen(false);
    expect(s.throughSeq()).toBe(2);
    expect(ids(0, 20).every((x) => s.has(x))).toBe(true);
    s.close();
  });

  it('keeps throughSeq when its runs expire and its log is empty', async () => {
    const f = fixture({ windowMs, sliceMs: slice });
    f.store.add(ids(0, 10), f.clock.t, 4);
    f.clock.t += windowMs + 2 * slice;
    await f.store.maintain(f.clock.t);
    expect(f.store.stats().ids).toBe(0);
    expect(f.reopen().throughSeq()).toBe(4);
    f.store.close();
  });

  it('advances throughSeq on an add with no ids, and does not remember ids already past the window', () => {
    const f = fixture({ windowMs, sliceMs: slice });
    f.store.add([], f.clock.t, 1);
    f.store.add([id(1)], f.clock.t - windowMs, 2);
    expect(f.store.throughSeq()).toBe(2);
    expect(f.store.has(id(1))).toBe(false);
    expect(f.reopen().throughSeq()).toBe(2);
    f.store.close();
  });

  it('starts a new log once adds without ids have grown it, keeping throughSeq', async () => {
    const f = fixture({ windowMs, sliceMs: slice });
    for (let seq = 0; seq < 12_000; seq++) f.store.add([], f.clock.t, seq);
    await f.store.maintain(f.clock.t);
    const logs = files(f.dir, /^log-/);
    expect(logs).toHaveLength(1);
    expect(readFileSync(join(f.dir, logs[0]!)).length).toBeLessThan(100);
    expect(f.reopen(false).throughSeq()).toBe(11_999);
    f.store.close();
  });

  it.each([
    ['a seq not above the last', () => [[id(1)], 5] as const, 'claims_seq_order'],
    ['an id that is not 16 bytes', () => [[Buffer.alloc(15)], 6] as const, 'claims_bad_id'],
  ])('refuses %s, and writes nothing', (_name, args, code) => {
    const f = fixture({ windowMs, sliceMs: slice });
    f.store.add([id(0)], f.clock.t, 5);
    const [batch, seq] = args();
    expect(() => f.store.add([...batch], f.clock.t, seq)).toThrow(expect.objectContaining({ code }));
    expect(f.reopen().throughSeq()).toBe(5);
    expect(f.store.has(id(1))).toBe(false);
    f.store.close();
  });

  it('undoes a seal cut short after some of its runs: the log still holds the claims', async () => {
    const f = fixture({ windowMs, sliceMs: slice });
    f.store.add(ids(0, 50), f.clock.t, 1);
    f.store.add(ids(50, 100), f.clock.t + slice, 2); // two slices: the seal writes two runs
    const logName = files(f.dir, /^log-/).at(-1)!;
    const log = readFileSync(join(f.dir, logName));
    f.clock.t += 3 * slice;
    await f.store.maintain(f.clock.t);
    const sealed = files(f.dir, /^run-/);
    expect(sealed).toHaveLength(2);
    writeFileSync(join(f.dir, logName), log); // died before deleting the log ...
    rmSync(join(f.dir, sealed[1]!)); // ... and before the second run was renamed into place
    const s = f.reopen(false);
    expect(ids(0, 100).every((x) => s.has(x))).toBe(true);
    expect(s.stats()).toMatchObject({ ids: 100, runs: 0 });
    expect(s.throughSeq()).toBe(2);
    s.close();
  });

  it('finishes a seal cut short after all its runs: the log is deleted, nothing counted twice', async () => {
    const f = fixture({ windowMs, sliceMs: slice });
    f.store.add(ids(0, 50), f.clock.t, 1);
    const logName = files(f.dir, /^log-/).at(-1)!;
    const log = readFileSync(join(f.dir, logName));
    f.clock.t += 3 * slice;
    await f.store.maintain(f.clock.t);
    writeFileSync(join(f.dir, logName), log);
    const s = f.reopen(false);
    expect(files(f.dir, /^log-/)).not.toContain(logName);
    expect(s.stats()).toMatchObject({ ids: 50, runs: 1 });
    expect(ids(0, 50).every((x) => s.has(x))).toBe(true);
    s.close();
  });

  it('removes the inputs of a merge cut short after its run was in place', async () => {
    const f = fixture({ windowMs, sliceMs: slice, memtableIds: 20 });
    f.store.add(ids(0, 30), f.clock.t, 1); // past memtableIds: a run at once
    f.store.add(ids(30, 60), f.clock.t, 2);
    const inputs = files(f.dir, /^run-/);
    expect(inputs).toHaveLength(2);
    inputs.forEach((r) => copyFileSync(join(f.dir, r), join(f.dir, `${r}.keep`)));
    f.clock.t += 2 * slice;
    await f.store.maintain(f.clock.t); // the slice ended: its two runs merge
    expect(files(f.dir, /^run-\d+\.bin$/)).toHaveLength(1);
    inputs.forEach((r) => copyFileSync(join(f.dir, `${r}.keep`), join(f.dir, r)));
    inputs.forEach((r) => rmSync(join(f.dir, `${r}.keep`)));
    const s = f.reopen(false);
    expect(s.stats()).toMatchObject({ ids: 60, runs: 1 });
    expect(files(f.dir, /^run-\d+\.bin$/)).toHaveLength(1);
    expect(ids(0, 60).every((x) => s.has(x))).toBe(true);
    s.close();
  });

  it('merges runs larger than one range of the key space (merged a range at a time)', async () => {
    const f = fixture({ windowMs, sliceMs: slice, memtableIds: 60_000 });
    for (let i = 0; i < 3; i++) f.store.add(ids(i * 60_000, (i + 1) * 60_000), f.clock.t, i); // a run each
    f.store.add(ids(0, 10), f.clock.t, 3); // ids claimed again merge into one
    f.clock.t += 2 * slice;
    await f.store.maintain(f.clock.t);
    expect(f.store.stats()).toMatchObject({ ids: 180_000, runs: 1 });
    expect(ids(0, 180_000).every((x) => f.store.has(x))).toBe(true);
    expect(ids(180_000, 200_000).some((x) => f.store.has(x))).toBe(false);
    f.store.close();
  });

  it('wipes a directory whose run is damaged, so throughSeq() asks for a full replay', async () => {
    const f = fixture({ windowMs, sliceMs: slice });
    f.store.add(ids(0, 50), f.clock.t, 3);
    f.clock.t += 2 * slice;
    await f.store.maintain(f.clock.t);
    const run = join(f.dir, files(f.dir, /^run-/)[0]!);
    const bytes = readFileSync(run);
    bytes[bytes.length - 1]! ^= 0xff; // a filter bit flipped
    writeFileSync(run, bytes);
    const s = f.reopen(false);
    expect(s.throughSeq()).toBe(-1);
    expect(s.stats().ids).toBe(0);
    s.close();
  });

  it('stays exact with many more ids than its filter budget covers, within the budget', async () => {
    const small = fixture({ windowMs: 1_000 * slice, sliceMs: slice, filterBytes: 512, memtableIds: 1_000 });
    const large = fixture({ windowMs: 1_000 * slice, sliceMs: slice, memtableIds: 1_000 });
    for (const f of [small, large]) {
      for (let i = 0; i < 40; i++) {
        f.store.add(ids(i * 1_000, i * 1_000 + 1_000), f.clock.t, i);
        f.clock.t += slice / 2;
        await f.store.maintain(f.clock.t);
      }
    }
    expect(small.store.stats().runs).toBeGreaterThanOrEqual(3);
    for (const f of [small, large]) {
      expect(ids(0, 40_000).every((x) => f.store.has(x))).toBe(true);
      expect(ids(40_000, 50_000).some((x) => f.store.has(x))).toBe(false);
    }
    // Beside the filters (512 bytes): a hash table of at most 2 × memtableIds slots and the probe buffer.
    expect(small.store.stats().ramBytes).toBeLessThanOrEqual(512 + 2_048 * 16 + 16_384);
    expect(large.store.stats().ramBytes).toBeGreaterThan(60_000); // its filters at 10-20 bits an id
    small.store.close();
    large.store.close();
  });

  it('writes runs once its hash tables hold memtableIds, without waiting for maintain', () => {
    const f = fixture({ windowMs, sliceMs: slice, memtableIds: 500 });
    for (let i = 0; i < 10; i++) f.store.add(ids(i * 300, i * 300 + 300), f.clock.t, i);
    const s = f.store.stats();
    expect(s.runs).toBeGreaterThanOrEqual(5);
    expect(s.ids).toBe(3_000);
    expect(ids(0, 3_000).every((x) => f.store.has(x))).toBe(true);
    f.store.close();
  });

  it('gives the same ids a different placement in another directory (a key of its own)', () => {
    const a = fixture({ windowMs, sliceMs: slice });
    const b = fixture({ windowMs, sliceMs: slice });
    expect(readFileSync(join(a.dir, 'key')).equals(readFileSync(join(b.dir, 'key')))).toBe(false);
    a.store.close();
    b.store.close();
  });

  it('agrees with a map of ids to claim times over random adds, checks, clock moves, maintenance and restarts', async () => {
    const window = 40 * 100;
    const pool = ids(0, 200).concat([randomBytes(16)]);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), ids: fc.uniqueArray(fc.nat(pool.length - 1), { maxLength: 12 }) }),
      fc.record({
        kind: fc.constant('tick' as const),
        ms: fc.oneof(fc.nat(300), fc.nat(3_000), fc.integer({ min: window - 400, max: window + 100 })),
      }),
      fc.record({ kind: fc.constant('maintain' as const) }),
      fc.record({ kind: fc.constant('reopen' as const), crash: fc.boolean() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 80 }), async (ops) => {
        // sliceMs 100, window 40 slices: merges of 6 slices (24 × 4 > 40), kept at most 6 slices longer.
        const f = fixture({ windowMs: window, sliceMs: 100, memtableIds: 16, filterBytes: 256 });
        const keep = 6 * 100;
        const lastAt = new Map<number, number>();
        const gone = new Set<number>(); // expired past any retention, and a maintain ran since
        let seq = 0;
        for (const o of ops) {
          if (o.kind === 'add') {
            f.store.add(
              o.ids.map((i) => pool[i]!),
              f.clock.t,
              ++seq,
            );
            for (const i of o.ids) {
              lastAt.set(i, f.clock.t);
              gone.delete(i);
            }
          } else if (o.kind === 'tick') f.clock.t += o.ms;
          else if (o.kind === 'maintain') {
            await f.store.maintain(f.clock.t);
            for (const [i, at] of lastAt) if (at + window + keep <= f.clock.t) gone.add(i);
          } else f.reopen(!o.crash);
          pool.forEach((x, i) => {
            const at = lastAt.get(i);
            const got = f.store.has(x);
            if (at === undefined || gone.has(i)) expect(got, `id ${i} never added or long expired`).toBe(false);
            else if (at + window > f.clock.t) expect(got, `id ${i} added at ${at}, now ${f.clock.t}`).toBe(true);
          });
          expect(f.store.throughSeq()).toBe(seq === 0 ? -1 : seq);
        }
        f.store.close();
      }),
      { numRuns: 100 },
    );
  });
});
