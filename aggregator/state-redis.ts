// The attribution state other users' events read too, in Redis (state.ts isShared): a device's
// clicks, named clicks, device-hours. Redis shares it between the partitions and processes; every key
// expires with its window. A step's writes are one script (lua/apply.lua): one command per step
// rather than one per event, as each ioredis command costs microseconds of CPU. They are idempotent
// (the same id, the same click; a touch line appended twice is the same touch, and the next cut keeps
// one), so a step decided again after a crash writes nothing new. A step's loads are one pipeline.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Needs } from './process-batch.js';
import { readTouches, touchAppend, touchLine, TOUCHES_KEPT, type Snapshot, type StateWrite } from './state.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
const scripts = { apply: lua('apply') };
type Script = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

export function createRedisState(config: { prefix: string }, deps: { redis: Redis }) {
  const { redis } = deps;
  // ioredis runs a defined command by EVALSHA, and by its text when Redis does not know it (after a restart).
  for (const [name, text] of Object.entries(scripts)) redis.defineCommand(`aggregator_${name}`, { lua: text });
  const run = (name: keyof typeof scripts, keys: string[], args: (string | number)[]) =>
    (redis as unknown as Record<string, Script>)[`aggregator_${name}`]!(keys.length, ...keys, ...args);
  const p = config.prefix;

  async function exec(tx: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
    return ((await tx.exec()) ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    });
  }

  return {
    async load(needs: Needs): Promise<Snapshot> {
      const snapshot: Snapshot = { touches: new Map(), clicks: new Map(), flood: new Map(), flags: new Map() };
      if (needs.touches.length + needs.clicks.length + needs.flood.length === 0) return snapshot;
      // The touch lists and named clicks: an MGET each (when any), then each flood set.
      const lists = [needs.touches.map((k) => p + k), needs.clicks.map((k) => p + k)];
      const tx = redis.pipeline();
      for (const keys of lists) if (keys.length > 0) tx.mget(keys);
      for (const key of needs.flood) tx.smembers(p + key);
      const values = await exec(tx);
      let next = 0;
      const [touches, clicks] = lists.map((keys) => (keys.length > 0 ? values[next++] : []) as (string | null)[]);
      needs.touches.forEach((key, i) => snapshot.touches.set(key, readTouches(touches![i] ?? '')));
      needs.clicks.forEach((key, i) => {
        const line = clicks![i];
        if (line) snapshot.clicks.set(key, readTouches(line)[0]!);
      });
      needs.flood.forEach((key, i) => snapshot.flood.set(key, new Set(values[next + i] as string[])));
      return snapshot;
    },

    /** Applies shared state writes (touches of a device, clicks, device-hours), one entry per key (layout: lua/apply.lua). */
    async apply(writes: StateWrite[]): Promise<void> {
      const byKey = new Map<string, StateWrite[]>();
      for (const w of writes) {
        const list = byKey.get(w.key);
        if (list) list.push(w);
        else byKey.set(w.key, [w]);
      }
      if (byKey.size === 0) return;
      const keys: string[] = [];
      const args: (string | number)[] = [TOUCHES_KEPT];
      for (const [key, ws] of byKey) {
        const first = ws[0]!;
        keys.push(p + key);
        if (first.op === 'touch') {
          const touches = ws.flatMap((w) => (w.op === 'touch' ? [w.touch] : []));
          const { lines, oldest, cutAt } = touchAppend(touches, first.ttlMs);
          args.push('touch', first.ttlMs, oldest, cutAt, lines);
        } else if (first.op === 'click') {
          args.push('click', first.ttlMs, touchLine(first.touch));
        } else if (first.op === 'flood') {
          const ids = ws.flatMap((w) => (w.op === 'flood' ? [w.id] : []));
          args.push('flood', first.ttlMs, first.limit, ids.length, ...ids);
        } else throw new Error(`${key} is the partition's, not shared`);
      }
      await run('apply', keys, args);
    },
  };
}
