// A state partition on local disk against a changelog held in memory: a step's changes are seen only
// once applied, redeliveries find what their step decided, and a replay from any point (an empty disk,
// a disk that holds a prefix, a disk the changelog no longer continues) gives the state the steps saw.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLog } from '../../test/support.js';
import { decodeEntry, encodeEntry, type Entry } from './changelog.js';
import { openPartition, type Partition, type ReadChangelog } from './partition.js';

const DAY = 86_400_000;
const T0 = Date.now();
const dirs: string[] = [];
const opened: Partition[] = [];
afterEach(async () => {
  for (const p of opened.splice(0)) await p.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(dir = mkdtempSync(join(tmpdir(), 'partition-'))) {
  dirs.push(dir);
  const p = openPartition({ dir, windowMs: 7 * DAY, sliceMs: 60_000 }, { log: silentLog });
  opened.push(p);
  return { p, dir };
}

/** The changelog partition: entries in memory, read as Kafka would give them. */
function changelog() {
  const log: Buffer[] = [];
  const read: ReadChangelog = async (from, onRecord) => {
    for (let i = Math.max(from, 0); i < log.length; i++) await onRecord(i, log[i]!);
    return log.length;
  };
  return { log, read };
}

/** One step: claims `ids` (the first occurrence), appends a touch to `touchKey`, sets `u:` flags; logged and applied. */
async function step(
  p: Partition,
  cl: ReturnType<typeof changelog>,
  s: { ids: string[]; first: number; at?: number; flag?: string; touchKey?: string },
) {
  const view = p.view(s.at ?? T0);
  s.ids.forEach((id, i) =>
    view.claimIfNew(id)
      ? view.decided(s.first, i, { invalidReason: s.flag ?? '', earns: false })
      : view.duplicate(s.first, i),
  );
  if (s.touchKey)
    view.change({
      op: 'touch',
      key: s.touchKey,
      expiresAt: (s.at ?? T0) + DAY,
      lines: `${s.at ?? T0} ${s.at ?? T0} ["IMPRESSION","${s.ids[0]}","cr","u",""]\n`,
      oldest: 0,
      cutAt: 10_000,
    });
  if (s.flag) view.change({ op: 'put', key: 'u:app:u', expiresAt: (s.at ?? T0) + DAY, value: `${s.flag} ` });
  const { entry, values } = view.entry({ kind: 'b', partition: 0, first: s.first, last: s.first });
  cl.log.push(encodeEntry(entry));
  p.apply(entry, values, cl.log.length - 1);
  return entry;
}

/** An entry as version 1 wrote it: the header, the claims, then the rest as JSON (touch ops before puts). */
function version1(e: Entry): Buffer {
  const json = Buffer.from(
    JSON.stringify({
      d: e.duplicates,
      o: e.decisions,
      t: e.ops.flatMap((op) => (op.op === 'touch' ? [[op.key, op.expiresAt, op.lines, op.oldest, op.cutAt]] : [])),
      p: e.ops.flatMap((op) => (op.op === 'put' ? [[op.key, op.expiresAt, op.value]] : [])),
    }),
  );
  const header = Buffer.alloc(46);
  let at = header.writeUInt8(1, 0);
  at = header.writeUInt8(e.source.kind.charCodeAt(0), at);
  at = header.writeUInt32BE(e.source.partition, at);
  for (const n of [e.seq, e.at, e.source.first, e.source.last]) at = header.writeDoubleBE(n, at);
  at = header.writeUInt32BE(e.claims.length, at);
  header.writeUInt32BE(json.length, at);
  return Buffer.concat([header, e.claims, json]);
}

describe('changelog entries', () => {
  it('read back as written, and refuse what this version did not write', () => {
    const entry: Entry = {
      seq: 7,
      at: T0,
      source: { kind: 'c', partition: 3, first: 10, last: 12 },
      claims: Buffer.alloc(32, 1),
      duplicates: [[11, 0]],
      decisions: [[10, 2, { invalidReason: 'click_flooding', earns: false }]],
      ops: [
        { op: 'touch', key: 'l:v:app:ü:c', expiresAt: T0 + DAY, lines: 'a\nb\n', oldest: 5, cutAt: 9 },
        { op: 'put', key: 'u:app:😀', expiresAt: T0, value: 'x ' },
      ],
    };
    const decoded = decodeEntry(encodeEntry(entry));
    expect(decoded).toEqual({ ok: true, entry });
    const bad = encodeEntry(entry);
    bad.writeUInt8(9, 0);
    expect(decodeEntry(bad)).toEqual({ ok: false, reason: 'changelog entry version 9' });
    expect(decodeEntry(encodeEntry(entry).subarray(0, 50)).ok).toBe(false);
    const cut = encodeEntry(entry);
    cut.writeUInt32BE(cut.length - 46 - 32 - 3, 42); // the body three bytes shorter than its last string
    expect(decodeEntry(cut.subarray(0, cut.length - 3))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^changelog entry body: /),
    });
  });

  it('carries text as it is, quotes and all, in fewer bytes than version 1', () => {
    const lines = `${T0} ${T0} [1,"e-1","cr","u\\"q",""]\n`.repeat(20);
    const entry: Entry = {
      seq: 1,
      at: T0,
      source: { kind: 'b', partition: 0, first: 1, last: 1 },
      claims: Buffer.alloc(0),
      duplicates: [],
      decisions: [],
      ops: [
        {
          op: 'put',
          key: 'v:e:app:"u":e-1',
          expiresAt: T0,
          value: JSON.stringify({ h: { e: JSON.stringify(['e-1', 4]) }, x: T0 }),
        },
        { op: 'touch', key: 'l:v:app:u:c', expiresAt: T0, lines, oldest: 0, cutAt: 99 },
      ],
    };
    const v2 = encodeEntry(entry);
    expect(decodeEntry(v2)).toEqual({ ok: true, entry });
    expect(v2.length).toBeLessThan(version1(entry).length);
  });

  it('reads entries version 1 wrote', () => {
    const entry: Entry = {
      seq: 3,
      at: T0,
      source: { kind: 'b', partition: 1, first: 4, last: 9 },
      claims: Buffer.alloc(16, 2),
      duplicates: [[5, 1]],
      decisions: [[4, 0, { invalidReason: '', earns: true, attribution: { to: 'c1', model: 'click', lagMs: 20_000 } }]],
      ops: [
        { op: 'touch', key: 'l:c:app:u:c', expiresAt: T0 + DAY, lines: 'x\n', oldest: 1, cutAt: 2 },
        { op: 'put', key: 'u:app:u', expiresAt: T0, value: 'bot ' },
      ],
    };
    expect(decodeEntry(version1(entry))).toEqual({ ok: true, entry });
  });
});

describe('a state partition', () => {
  it('shows a step its own changes at once and other steps only once the entry is applied', async () => {
    const { p } = open();
    const id = randomUUID();
    const view = p.view(T0);
    expect(view.claimIfNew(id)).toBe(true);
    expect(view.claimIfNew(id)).toBe(false); // an earlier copy in the same step
    view.change({ op: 'put', key: 'u:app:u', expiresAt: T0 + DAY, value: 'bot ' });
    expect(view.get('u:app:u')).toBe('bot ');
    const other = p.view(T0);
    expect(other.claimIfNew(id)).toBe(true); // not applied yet: the other step does not see it
    expect(other.get('u:app:u')).toBeUndefined();
    const { entry, values } = view.entry({ kind: 'b', partition: 0, first: 0, last: 0 });
    p.apply(entry, values, 0);
    const after = p.view(T0);
    expect(after.claimIfNew(id)).toBe(false);
    expect(after.get('u:app:u')).toBe('bot ');
    expect(after.decidedThrough('b')).toBe(0);
    expect(() => p.apply(entry, values, 0)).toThrow('entry 0 after 0'); // applied twice: refused
  });

  it('reads what was applied while a flush is writing it to the disk, and after', async () => {
    const { p } = open();
    await step(p, changelog(), { ids: [randomUUID()], first: 0, flag: 'bot_user_agent' });
    let done = false;
    const flushed = p.flush().then(() => (done = true));
    const seen = new Set<string | undefined>();
    while (!done) {
      seen.add(p.view(T0).get('u:app:u'));
      await new Promise((r) => setImmediate(r));
    }
    await flushed;
    seen.add(p.view(T0).get('u:app:u'));
    expect([...seen]).toEqual(['bot_user_agent ']);
  });

  it("tells a redelivered record's events what their step decided, until the offsets are committed", async () => {
    const { p } = open();
    const cl = changelog();
    const [a, b] = [randomUUID(), randomUUID()];
    await step(p, cl, { ids: [a], first: 0 });
    await step(p, cl, { ids: [b, a], first: 1, flag: 'bot_user_agent' });
    const view = p.view(T0);
    expect(view.known('b', 0, 0)).toEqual({ invalidReason: '', earns: false });
    expect(view.known('b', 1, 0)).toEqual({ invalidReason: 'bot_user_agent', earns: false });
    expect(view.known('b', 1, 1)).toBeNull(); // it was a duplicate of the first
    p.committed('b', 1);
    expect(p.view(T0).known('b', 0, 0)).toBeNull(); // no longer held: only an offset reset redelivers it
    expect(p.view(T0).known('b', 1, 0)).not.toBeNull();
  });

  it.each([
    ['an empty disk replays the whole changelog', 'empty', 10],
    ['a disk holding a prefix replays only what follows', 'prefix', 3],
    ['a disk the changelog does not continue is wiped and rebuilt', 'stale', 10],
  ] as const)('restores: %s', async (_name, kind, replayed) => {
    const cl = changelog();
    const { p } = open();
    const ids = Array.from({ length: 30 }, () => randomUUID());
    for (let i = 0; i < 10; i++)
      await step(p, cl, { ids: ids.slice(i * 3, i * 3 + 3), first: i, touchKey: 'l:v:app:u:c', at: T0 + i });
    const expected = { touches: p.view(T0).get('l:v:app:u:c'), seq: p.seq };
    const { p: restored } = open();
    const foreign = randomUUID();
    if (kind === 'prefix') {
      // This disk caught up when the changelog held 7 entries.
      await restored.restore(
        async (from, onRecord) => {
          for (let i = Math.max(from, 0); i < 7; i++) await onRecord(i, cl.log[i]!);
          return 7;
        },
        { b: -1, c: -1 },
      );
    }
    if (kind === 'stale') {
      const other = changelog(); // another changelog (the topic was recreated): 12 entries this one never had
      for (let i = 0; i < 12; i++) await step(restored, other, { ids: i === 0 ? [foreign] : [randomUUID()], first: i });
    }
    const r = await restored.restore(cl.read, { b: -1, c: -1 });
    expect(r.entries).toBe(replayed);
    const view = restored.view(T0);
    expect(restored.seq).toBe(expected.seq);
    expect(view.get('l:v:app:u:c')).toBe(expected.touches);
    expect(ids.every((id) => !view.claimIfNew(id))).toBe(true);
    expect(view.claimIfNew(foreign)).toBe(true);
    expect(view.decidedThrough('b')).toBe(9);
  });
});
