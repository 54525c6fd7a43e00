// Measures the partition key-value store (aggregator/store/kv.ts) at the size it runs at: µs per get (hit, miss) and per put
// in write() batches of 5,000, sweep scan cost, disk bytes per key; and lmdb-js's own cache for comparison.
// Usage: node --import tsx bench/aggregator-kv.ts [keys=1000000] [valueBytes=1000,100]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { open } from 'lmdb';
import { openKv, type KvPut } from '../aggregator/store/kv.js';

const BATCH = 5_000;
const READS = 200_000;
const keyCount = Number(process.argv[2] ?? 1_000_000);
const sizes = (process.argv[3] ?? '1000,100').split(',').map(Number);

const ns = () => process.hrtime.bigint();
const us = (t0: bigint, n: number) => Number(ns() - t0) / 1e3 / n;
const f = (x: number) => x.toFixed(2);

/** Keys as the partition writes them (touch lists of a user and campaign), in no particular order. */
const keys = Array.from(
  { length: keyCount },
  (_, i) => `l:v:app-${i % 5}:user-${((i * 2654435761) >>> 0).toString(36)}-${i}:campaign-${i % 40}`,
);
const pick = (n: number) => Array.from({ length: n }, () => Math.floor(Math.random() * keyCount));

async function run(valueBytes: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kv-bench-'));
  const expiresAt = Date.now() + 86_400_000;
  const values = Array.from({ length: 64 }, (_, i) =>
    Buffer.alloc(valueBytes, `1733300000000 1733300000123 ["IMPRESSION","${i}"]\n`),
  );
  try {
    const kv = openKv({ dir });
    const putAll = async (indexes: number[]) => {
      let mainNs = 0n;
      const cpu0 = process.cpuUsage();
      const t0 = ns();
      for (let s = 0; s < indexes.length; s += BATCH) {
        const puts: KvPut[] = indexes
          .slice(s, s + BATCH)
          .map((i) => ({ key: keys[i]!, value: values[i % 64]!, expiresAt }));
        const m0 = ns();
        const done = kv.write({ puts, meta: [{ key: 'seq', value: Buffer.from(String(s)) }] });
        mainNs += ns() - m0;
        await done;
      }
      const cpu = process.cpuUsage(cpu0);
      return `wall ${f(us(t0, indexes.length))}, main thread ${f(Number(mainNs) / 1e3 / indexes.length)}, process CPU ${f((cpu.user + cpu.system) / indexes.length)}`;
    };
    const insert = await putAll(Array.from({ length: keyCount }, (_, i) => i));
    const update = await putAll(pick(200_000));

    const now = Date.now();
    const hits = pick(READS).map((i) => keys[i]!);
    const misses = pick(READS).map((i) => `${keys[i]!}x`);
    const time = (list: string[]) => {
      const t0 = ns();
      let n = 0;
      for (const key of list) if (kv.get(key, now)) n++;
      return { us: us(t0, list.length), n };
    };
    time(hits.slice(0, 20_000));
    const hit = time(hits);
    const miss = time(misses);
    const sorted = time([...hits].sort());
    const t0 = ns();
    const got = kv.getMany(hits.slice(0, 20_000), now).length;
    const many = us(t0, got);

    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const s0 = ns();
    await kv.sweep(now, 1_000);
    const sweepUs = us(s0, keyCount);
    delay.disable();
    const { keys: stored, diskBytes } = kv.stats();
    await kv.close();

    // lmdb-js's own cache, against the same reads without it, on the reopened store once every page is mapped
    // again: cold (each key read once, as a step reads) and warm (20,000 keys read again).
    const root = open({ path: dir, noSync: true, useWritemap: true, maxDbs: 2 });
    const plain = root.openDB<Buffer, string>({ name: 'kv', encoding: 'binary', useVersions: true });
    const cached = root.openDB<Buffer, string>({ name: 'kv', encoding: 'binary', useVersions: true, cache: true });
    for (const entry of plain.getRange({})) if (!entry.value) throw new Error('empty value');
    const readAll = (list: string[], read: (key: string) => unknown) => {
      const c0 = ns();
      for (const key of list) read(key);
      return us(c0, list.length);
    };
    const viaCache = (key: string) => cached.getEntry(key);
    const viaPlain = (key: string) => {
      const raw = plain.getBinaryFast(key)!;
      return Buffer.allocUnsafe(raw.length).set(new Uint8Array(raw.buffer, raw.byteOffset, raw.length));
    };
    const warmSet = hits.slice(0, 20_000);
    const cold = {
      cache: readAll(hits.slice(20_000, 110_000), viaCache),
      plain: readAll(hits.slice(110_000), viaPlain),
    };
    readAll(warmSet, viaCache);
    const warm = { cache: readAll(warmSet, viaCache), plain: readAll(warmSet, viaPlain) };
    await root.close();

    console.log(`\n${keyCount} keys of ${valueBytes} B values (${dir})`);
    console.log(`  put µs (write() batches of ${BATCH}, insert): ${insert}`);
    console.log(`  put µs (write() batches of ${BATCH}, update of existing keys): ${update}`);
    console.log(
      `  get µs: hit ${f(hit.us)} (${hit.n} found), miss ${f(miss.us)} (${miss.n} found), hits in key order ${f(sorted.us)}, getMany ${f(many)}/key`,
    );
    console.log(
      `  sweep, nothing expired: ${f(sweepUs)} µs/key scanned, event loop delay max ${f(delay.max / 1e6)} ms`,
    );
    console.log(`  disk: ${diskBytes} B for ${stored} keys = ${f(diskBytes / stored)} B/key`);
    console.log(
      `  lmdb-js cache:true getEntry µs: cold ${f(cold.cache)}, warm ${f(warm.cache)}; without cache (getBinaryFast + copy): cold ${f(cold.plain)}, warm ${f(warm.plain)}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const size of sizes) await run(size);
