// The attribution state and event claims in Redis (layout: state.ts). Redis keeps them across
// restarts and shares them between aggregator processes, so a partition can move to another process
// and carry on; every key expires with its window.
// A batch's claims are one script (lua/claim.lua: `SET c:<event_id> <value> PX <window> NX GET` per
// event), and so are its state writes (lua/apply.lua): one command per batch rather than one per
// event, as each ioredis command costs microseconds of CPU. State writes are idempotent (the same
// id, the same click; a touch line appended twice is the same touch, and the next cut keeps one), so
// they are applied after the claims, for new and redelivered events alike: a crash between the two
// is repaired by the redelivery. A batch's loads are one pipeline of a few commands. The pairing of
// rewardable events and confirmations is one script per batch step too (lua/pair.lua).
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Emission, Offer } from './pairing.js';
import type { Needs } from './process-batch.js';
import { readFlags, readTouches, touchLine, TOUCHES_KEPT, type Snapshot, type StateWrite } from './state.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
const scripts = { claim: lua('claim'), apply: lua('apply'), pair: lua('pair') };
type Script = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

export function createRedisState(config: { prefix: string; claimTtlMs: number }, deps: { redis: Redis }) {
  const { redis } = deps;
  // ioredis runs a defined command by EVALSHA, and by its text when Redis does not know it (after a restart).
  for (const [name, text] of Object.entries(scripts)) redis.defineCommand(`aggregator_${name}`, { lua: text });
  const run = (name: keyof typeof scripts, keys: string[], args: (string | number)[]) =>
    (redis as unknown as Record<string, Script>)[`aggregator_${name}`]!(keys.length, ...keys, ...args);
  const p = config.prefix;
  const claimKey = (id: string) => `${p}c:${id}`;

  async function exec(tx: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
    return ((await tx.exec()) ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    });
  }

  return {
    async load(needs: Needs): Promise<Snapshot> {
      const snapshot: Snapshot = { touches: new Map(), clicks: new Map(), flood: new Map(), claims: new Map(), flags: new Map() };
      if (needs.touches.length + needs.clicks.length + needs.flood.length + needs.claims.length + needs.flags.length === 0) return snapshot;
      // The touch lists, named clicks, claims and flags: an MGET each (when any), then each flood set.
      const lists = [needs.touches.map((k) => p + k), needs.clicks.map((k) => p + k), needs.claims.map(claimKey), needs.flags.map((k) => p + k)];
      const tx = redis.pipeline();
      for (const keys of lists) if (keys.length > 0) tx.mget(keys);
      for (const key of needs.flood) tx.smembers(p + key);
      const values = await exec(tx);
      let next = 0;
      const [touches, clicks, claims, flags] = lists.map((keys) => (keys.length > 0 ? values[next++] : []) as (string | null)[]);
      needs.touches.forEach((key, i) => snapshot.touches.set(key, readTouches(touches![i] ?? '')));
      needs.clicks.forEach((key, i) => {
        const line = clicks![i];
        if (line) snapshot.clicks.set(key, readTouches(line)[0]!);
      });
      needs.claims.forEach((id, i) => {
        const claim = claims![i];
        if (claim) snapshot.claims.set(id, claim);
      });
      needs.flags.forEach((key, i) => snapshot.flags.set(key, readFlags(flags![i])));
      needs.flood.forEach((key, i) => snapshot.flood.set(key, new Set(values[next + i] as string[])));
      return snapshot;
    },

    /** Claims each event unless claimed; returns, per claim, the value already there ('' if none). */
    async claim(claims: { id: string; value: string }[]): Promise<string[]> {
      if (claims.length === 0) return [];
      return (await run('claim', claims.map((c) => claimKey(c.id)), [config.claimTtlMs, ...claims.map((c) => c.value)])) as string[];
    },

    /** Offers each side to the pairing, in order; returns what it emitted (layout: lua/pair.lua). */
    async pair(offers: Offer[]): Promise<Emission[]> {
      if (offers.length === 0) return [];
      const args = offers.flatMap((o) => [o.side, o.appId, o.eventId, o.clickId, o.position, o.ttlMs, o.payload]);
      const out = (await run('pair', [], [p, config.claimTtlMs, ...args])) as [number, 'pair' | 'second', string, string][];
      return out.map(([offer, kind, e, k]) => ({ offer, kind, e, k }));
    },

    /** Applies state writes, one entry per key for all the members it gets (layout: lua/apply.lua). */
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
          const lines = touches.map(touchLine);
          const newest = Math.max(...touches.map((t) => t.time));
          // Cut back once the list holds about twice the lines kept (judged by these lines' length).
          const cutAt = 2 * TOUCHES_KEPT * Math.max(...lines.map((l) => l.length));
          args.push('touch', first.ttlMs, newest - first.ttlMs, cutAt, lines.join(''));
        } else if (first.op === 'click') {
          args.push('click', first.ttlMs, touchLine(first.touch));
        } else if (first.op === 'flag') {
          const reasons = [...new Set(ws.flatMap((w) => (w.op === 'flag' ? [w.reason] : [])))];
          args.push('flag', first.ttlMs, reasons.length, ...reasons);
        } else {
          const ids = ws.flatMap((w) => (w.op === 'flood' ? [w.id] : []));
          args.push('flood', first.ttlMs, first.limit, ids.length, ...ids);
        }
      }
      await run('apply', keys, args);
    },
  };
}
