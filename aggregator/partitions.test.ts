// The partitions of processes sharing one state directory (several aggregators on a host): each
// partition's directory has one owner at a time, a partition handed over keeps what its disk holds,
// and a lock left by a dead process is taken over.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLog } from '../test/support.js';
import { createPartitions, type Partitions } from './partitions.js';

const DAY = 86_400_000;
const dirs: string[] = [];
const opened: Partitions[] = [];
afterEach(async () => {
  for (const p of opened.splice(0)) await p.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function owner(dir: string, lockWaitMs = 10_000) {
  const partitions = createPartitions(
    { dir, windowMs: 7 * DAY, sliceMs: 60_000, lockWaitMs },
    {
      log: silentLog,
      readChangelog: async (_, from) => Math.max(from, 0), // an empty changelog: the disk holds all there is
      commits: async () => ({ b: -1, c: -1 }),
    },
  );
  opened.push(partitions);
  return partitions;
}

function stateDir() {
  const dir = mkdtempSync(join(tmpdir(), 'partitions-'));
  dirs.push(dir);
  return dir;
}

describe('a state directory shared by the processes of a host', () => {
  it('gives each partition one owner, and the next one gets it once the first lets go', async () => {
    const dir = stateDir();
    const a = owner(dir);
    const b = owner(dir);
    a.assigned([0, 1]);
    b.assigned([2]);
    (await a.acquire(0)).release();
    (await b.acquire(2)).release();
    expect(readFileSync(join(dir, '0', 'LOCK'), 'utf8')).toBe(String(process.pid));

    // Partition 0 moves from a to b: b waits until a has closed it.
    let got = false;
    const taken = b.acquire(0).then((held) => {
      got = true;
      return held;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toBe(false);
    a.assigned([1]);
    const held = await taken;
    expect(held.part.seq).toBe(-1);
    held.release();
  });

  it("keeps what the disk holds for the partition's next owner", async () => {
    const dir = stateDir();
    const a = owner(dir);
    a.assigned([3]);
    const held = await a.acquire(3);
    const view = held.part.view(Date.now());
    expect(view.claimIfNew('6f1c2a9e-8d1b-4e55-9b7a-0c3f4d2e1a11')).toBe(true);
    held.part.apply(view.entry({ kind: 'b', partition: 3, first: 0, last: 0 }).entry, new Map(), 0);
    held.release();
    a.assigned([]);

    const b = owner(dir);
    b.assigned([3]);
    const again = await b.acquire(3);
    expect(again.part.seq).toBe(0); // the entry a applied, from the disk: nothing replayed
    expect(again.part.view(Date.now()).claimIfNew('6f1c2a9e-8d1b-4e55-9b7a-0c3f4d2e1a11')).toBe(false);
    again.release();
  });

  it('refuses a partition its owner keeps, once the wait is over', async () => {
    const dir = stateDir();
    const a = owner(dir);
    (await a.acquire(0)).release();
    const b = owner(dir, 300);
    await expect(b.acquire(0)).rejects.toMatchObject({ code: 'state_dir_locked' });
  });

  it('takes over a lock left by a dead process', async () => {
    const dir = stateDir();
    const gone = 2 ** 22 + 12_345; // above the kernel's pid_max default: no such process
    const a = owner(dir);
    (await a.acquire(0)).release();
    await a.close();
    writeFileSync(join(dir, '0', 'LOCK'), String(gone));
    const b = owner(dir, 300);
    (await b.acquire(0)).release();
    expect(readFileSync(join(dir, '0', 'LOCK'), 'utf8')).toBe(String(process.pid));
  });
});
