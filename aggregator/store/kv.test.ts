import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLog } from '../../test/support.js';
import { currentBootId, writeBootMark } from './kv-boot-mark.js';
import { openKv, type Kv } from './kv.js';

const dirs: string[] = [];
const open: Kv[] = [];
afterEach(async () => {
  for (const kv of open.splice(0)) await kv.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kv-test-'));
  dirs.push(dir);
  return dir;
}
function kvIn(dir = tempDir(), bootId = () => 'boot-1'): Kv {
  const kv = openKv({ dir }, { log: silentLog, bootId });
  open.push(kv);
  return kv;
}
async function reopen(kv: Kv, dir: string, bootId = () => 'boot-1'): Promise<Kv> {
  await kv.close();
  return kvIn(dir, bootId);
}
const b = (s: string) => Buffer.from(s);
const str = (v: Buffer | undefined) => v?.toString();
const NOW = 1_000_000;

describe('kv get', () => {
  it.each([
    { name: 'a present key', expiresAt: NOW + 1, key: 'l:c:a:u:c', want: 'touches' },
    { name: 'a key that expires now', expiresAt: NOW, key: 'l:c:a:u:c', want: undefined },
    { name: 'an expired key', expiresAt: NOW - 1, key: 'l:c:a:u:c', want: undefined },
    { name: 'an absent key', expiresAt: NOW + 1, key: 'u:a:nobody', want: undefined },
    { name: 'an empty key', expiresAt: NOW + 1, key: '', want: undefined },
  ])('reads $name', async ({ expiresAt, key, want }) => {
    const kv = kvIn();
    await kv.write({ puts: [{ key: 'l:c:a:u:c', value: b('touches'), expiresAt }] });
    expect(str(kv.get(key, NOW))).toBe(want);
  });

  it('reads many keys in order, present, absent and expired', async () => {
    const kv = kvIn();
    await kv.write({
      puts: [
        { key: 'u:a:1', value: b('one'), expiresAt: NOW + 10 },
        { key: 'u:a:2', value: b('two'), expiresAt: NOW - 10 },
        { key: 'u:a:3', value: b(''), expiresAt: NOW + 10 },
      ],
    });
    expect(kv.getMany(['u:a:3', 'u:a:2', 'u:a:0', 'u:a:1'], NOW).map(str)).toEqual(['', undefined, undefined, 'one']);
  });

  it('returns a copy the next read does not overwrite', async () => {
    const kv = kvIn();
    await kv.write({
      puts: [
        { key: 'x', value: b('first'), expiresAt: NOW + 1 },
        { key: 'y', value: b('other'), expiresAt: NOW + 1 },
      ],
    });
    const x = kv.get('x', NOW);
    kv.get('y', NOW);
    expect(str(x)).toBe('first');
  });

  it('keeps values of 100 kB whole', async () => {
    const kv = kvIn();
    const big = Buffer.alloc(100_000, 'z');
    await kv.write({ puts: [{ key: 'v:e:a:u:e', value: big, expiresAt: NOW + 1 }] });
    expect(kv.get('v:e:a:u:e', NOW)?.equals(big)).toBe(true);
  });
});

describe('kv write', () => {
  it('applies puts, deletes and meta of one write together, visible when it resolves', async () => {
    const kv = kvIn();
    await kv.write({ puts: [{ key: 'gone', value: b('x'), expiresAt: NOW + 1 }] });
    await kv.write({
      puts: [{ key: 'k1', value: b('v1'), expiresAt: NOW + 1 }],
      deletes: ['gone'],
      meta: [{ key: 'seq', value: b('7') }],
    });
    expect([str(kv.get('k1', NOW)), str(kv.get('gone', NOW)), str(kv.meta('seq'))]).toEqual(['v1', undefined, '7']);
  });

  it('resolves writes in call order, the second seeing the first', async () => {
    const kv = kvIn();
    const order: number[] = [];
    const first = kv
      .write({
        puts: [
          { key: 'k', value: b('first'), expiresAt: NOW + 1 },
          { key: 'other', value: b('o'), expiresAt: NOW + 1 },
        ],
        meta: [{ key: 'seq', value: b('1') }],
      })
      .then(() => order.push(1));
    const second = kv
      .write({
        puts: [{ key: 'k', value: b('second'), expiresAt: NOW + 1 }],
        deletes: ['other'],
        meta: [{ key: 'seq', value: b('2') }],
      })
      .then(() => order.push(2));
    await Promise.all([first, second]);
    expect(order).toEqual([1, 2]);
    expect([str(kv.get('k', NOW)), str(kv.get('other', NOW)), str(kv.meta('seq'))]).toEqual(['second', undefined, '2']);
  });

  it.each([
    { name: 'an empty key', batch: { puts: [{ key: '', value: b('x'), expiresAt: NOW + 1 }] } },
    { name: 'a key over 1978 bytes', batch: { puts: [{ key: 'k'.repeat(1979), value: b('x'), expiresAt: NOW + 1 }] } },
    { name: 'an expiry that is not a number', batch: { puts: [{ key: 'k', value: b('x'), expiresAt: Number.NaN }] } },
    { name: 'a meta key over 1978 bytes', batch: { puts: [], meta: [{ key: 'é'.repeat(990), value: b('x') }] } },
  ])('refuses a write with $name and applies none of it', async ({ batch }) => {
    const kv = kvIn();
    const write = kv.write({
      puts: [{ key: 'good', value: b('x'), expiresAt: NOW + 1 }, ...batch.puts],
      meta: [{ key: 'seq', value: b('1') }, ...(batch.meta ?? [])],
    });
    await expect(write).rejects.toMatchObject({ code: 'kv_bad_write', retriable: false });
    await kv.write({ puts: [] });
    expect([kv.get('good', NOW), kv.meta('seq')]).toEqual([undefined, undefined]);
  });

  it('refuses writes once closed', async () => {
    const kv = openKv({ dir: tempDir() });
    await kv.close();
    await expect(kv.write({ puts: [] })).rejects.toMatchObject({ code: 'kv_closed' });
  });
});

describe('kv meta', () => {
  it('lists the meta keys of a prefix, in key order, and deletes one set to null', async () => {
    const kv = kvIn();
    const meta = ['r:b:02', 'r:b:01', 'r:c:01', 'r:', 'q:z', 'r;', 'seq', 'r:b:03'].map((key) => ({
      key,
      value: b(key),
    }));
    await kv.write({ puts: [], meta });
    await kv.write({ puts: [], meta: [{ key: 'r:b:03', value: null }] });
    expect(kv.metaRange('r:b:').map((m) => [m.key, str(m.value)])).toEqual([
      ['r:b:01', 'r:b:01'],
      ['r:b:02', 'r:b:02'],
    ]);
    expect(kv.metaRange('r:').map((m) => m.key)).toEqual(['r:', 'r:b:01', 'r:b:02', 'r:c:01']);
    expect(kv.metaRange('x')).toEqual([]);
    expect(kv.metaRange('').length).toBe(7);
  });

  it('keeps meta values past any expiry and apart from the keys', async () => {
    const kv = kvIn();
    await kv.write({
      puts: [{ key: 'seq', value: b('kv'), expiresAt: NOW - 1 }],
      meta: [{ key: 'seq', value: b('meta') }],
    });
    await kv.sweep(NOW);
    expect([kv.get('seq', NOW), str(kv.meta('seq'))]).toEqual([undefined, 'meta']);
  });
});

describe('kv on disk', () => {
  it('keeps every key and meta value through close and reopen', async () => {
    const dir = tempDir();
    const kv = kvIn(dir);
    const puts = Array.from({ length: 3_000 }, (_, i) => ({
      key: `l:v:a:u${i}:c`,
      value: b(`v${i}`),
      expiresAt: NOW + i,
    }));
    await kv.write({ puts, meta: [{ key: 'd:b', value: b('41') }] });
    const again = await reopen(kv, dir);
    expect(again.stats().keys).toBe(3_000);
    expect([str(again.get('l:v:a:u2999:c', NOW)), again.get('l:v:a:u0:c', NOW), str(again.meta('d:b'))]).toEqual([
      'v2999',
      undefined,
      '41',
    ]);
  });

  it.each([
    { name: 'keeps a store closed before a reboot', left: 'closed' as const, bootNow: 'boot-2', kept: true },
    {
      name: 'keeps a store left open in this boot (a killed process)',
      left: { open: 'boot-1' },
      bootNow: 'boot-1',
      kept: true,
    },
    {
      name: 'discards a store left open in an earlier boot: the OS may have lost its unsynced pages',
      left: { open: 'boot-1' },
      bootNow: 'boot-2',
      kept: false,
    },
  ])('$name', async ({ left, bootNow, kept }) => {
    const dir = tempDir();
    const kv = kvIn(dir, () => 'boot-1');
    await kv.write({ puts: [{ key: 'k', value: b('v'), expiresAt: NOW + 1 }], meta: [{ key: 'seq', value: b('3') }] });
    await kv.close();
    writeBootMark(dir, left); // what the process left when it stopped
    const again = kvIn(dir, () => bootNow);
    expect([str(again.get('k', NOW)), str(again.meta('seq')), again.stats().keys]).toEqual(
      kept ? ['v', '3', 1] : [undefined, undefined, 0],
    );
  });

  it('keeps a write that resolved right before the process was SIGKILLed', async () => {
    const dir = tempDir();
    const printed = await runChildUntil(dir, 'once', 1);
    expect(printed).toEqual([0]);
    const kv = kvIn(dir, currentBootId);
    expect([kv.stats().keys, str(kv.meta('seq')), kv.get('b:0:199', Date.now())?.length]).toEqual([200, '0', 300]);
  });

  it('keeps each write whole or absent when the process is SIGKILLed while writing', async () => {
    const dir = tempDir();
    const printed = await runChildUntil(dir, 'stream', 15);
    const kv = kvIn(dir, currentBootId);
    const seq = Number(str(kv.meta('seq')));
    expect(seq).toBeGreaterThanOrEqual(printed.at(-1)!);
    expect(kv.stats().keys).toBe((seq + 1) * 200);
    expect(kv.getMany([`b:${seq}:0`, `b:${seq}:199`, `b:${seq + 1}:0`], Date.now()).map((v) => v?.length)).toEqual([
      300,
      300,
      undefined,
    ]);
  });
});

describe('kv sweep', () => {
  it('deletes the expired entries only, and returns how many', async () => {
    const kv = kvIn();
    const puts = Array.from({ length: 5_000 }, (_, i) => ({
      key: `u:a:${String(i).padStart(5, '0')}`,
      value: b('r '),
      expiresAt: i % 3 === 0 ? NOW : NOW + 1,
    }));
    await kv.write({ puts, meta: [{ key: 'seq', value: b('1') }] });
    expect(await kv.sweep(NOW, 100_000)).toBe(1_667);
    expect(kv.stats().keys).toBe(3_333);
    expect([str(kv.get('u:a:00001', NOW)), kv.get('u:a:00003', NOW + 1), str(kv.meta('seq'))]).toEqual([
      'r ',
      undefined,
      '1',
    ]);
  });

  it('deletes at most maxKeys per sweep, and the next sweep goes on from there', async () => {
    const kv = kvIn();
    const puts = Array.from({ length: 4_500 }, (_, i) => ({
      key: `l:c:${String(i).padStart(5, '0')}`,
      value: b('t'),
      expiresAt: i % 2 ? NOW - 1 : NOW + 1,
    }));
    await kv.write({ puts });
    expect(await kv.sweep(NOW, 1_000)).toBe(1_000);
    expect([kv.stats().keys, kv.get('l:c:02001', NOW - 2)?.length, kv.get('l:c:01999', NOW - 2)]).toEqual([
      3_500,
      1,
      undefined,
    ]);
    expect(await kv.sweep(NOW, 1_000)).toBe(1_000);
    expect(await kv.sweep(NOW, 1_000)).toBe(250);
    expect(kv.stats().keys).toBe(2_250);
    expect(await kv.sweep(NOW, 1_000)).toBe(0);
  });

  it('keeps an entry a write renewed while the sweep was scanning', async () => {
    const kv = kvIn();
    await kv.write({
      puts: [
        { key: 'l:c:renewed', value: b('old'), expiresAt: NOW - 1 },
        { key: 'l:c:stale', value: b('old'), expiresAt: NOW - 1 },
      ],
    });
    const renew = kv.write({ puts: [{ key: 'l:c:renewed', value: b('new'), expiresAt: NOW + 1 }] }); // not committed yet
    const swept = kv.sweep(NOW);
    await renew;
    expect(await swept).toBeGreaterThanOrEqual(1);
    expect([str(kv.get('l:c:renewed', NOW)), kv.stats().keys]).toEqual(['new', 1]);
  });
});

/** Runs kv-crash-child.ts until it printed `count` resolved writes, SIGKILLs it, returns what it printed. */
function runChildUntil(dir: string, mode: 'once' | 'stream', count: number): Promise<number[]> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'kv-crash-child.ts'), dir, mode, '200'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.split('\n').length - 1 >= count) child.kill('SIGKILL');
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code}`));
      else resolve(out.split('\n').filter(Boolean).map(Number));
    });
  });
}
