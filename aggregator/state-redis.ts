// The attribution state and event claims in Redis (layout: state.ts). Redis keeps them across
// restarts and shares them between aggregator processes, so a partition can move to another process
// and carry on; every key expires with its window.
// A batch's claims are one script (lua/claim.lua: `SET c:<event_id> <value> PX <window> NX GET` per
// event), and so are its state writes (lua/apply.lua): one command per batch rather than one per
// event, as each ioredis command costs microseconds of CPU. State writes are idempotent (the same
// member, the same id, the same click), so they are applied after the claims, for new and
// redelivered events alike: a crash between the two is repaired by the redelivery.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Needs } from './process-batch.js';
import { decodeTouch, encodeTouch, TOUCHES_KEPT, type Snapshot, type StateWrite } from './state.js';

const TRIM_EVERY = 16; // trim a touch set on about one write in 16 (a last hex digit 0): trimming on each would double the cost
const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
const scripts = { claim: lua('claim'), apply: lua('apply') };
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
      const snapshot: Snapshot = { touches: new Map(), clicks: new Map(), flood: new Map(), claims: new Map() };
      if (needs.touches.length + needs.clicks.length + needs.flood.length + needs.claims.length === 0) return snapshot;
      const tx = redis.pipeline();
      for (const key of needs.touches) tx.zrange(p + key, 0, -1, 'WITHSCORES');
      for (const key of needs.flood) tx.smembers(p + key);
      if (needs.clicks.length > 0) tx.mget(needs.clicks.map((k) => p + k));
      if (needs.claims.length > 0) tx.mget(needs.claims.map(claimKey));
      const values = await exec(tx);
      needs.touches.forEach((key, i) => {
        const flat = values[i] as string[];
        const touches = [];
        for (let j = 0; j < flat.length; j += 2) touches.push(decodeTouch(flat[j]!, Number(flat[j + 1])));
        snapshot.touches.set(key, touches);
      });
      needs.flood.forEach((key, i) => snapshot.flood.set(key, new Set(values[needs.touches.length + i] as string[])));
      if (needs.clicks.length > 0) {
        (values[needs.touches.length + needs.flood.length] as (string | null)[]).forEach((v, i) => {
          if (!v) return;
          const space = v.indexOf(' ');
          snapshot.clicks.set(needs.clicks[i]!, decodeTouch(v.slice(space + 1), Number(v.slice(0, space))));
        });
      }
      if (needs.claims.length > 0) {
        (values.at(-1) as (string | null)[]).forEach((v, i) => v && snapshot.claims.set(needs.claims[i]!, v));
      }
      return snapshot;
    },

    /** Claims each event unless claimed; returns, per claim, the value already there ('' if none). */
    async claim(claims: { id: string; value: string }[]): Promise<string[]> {
      if (claims.length === 0) return [];
      return (await run('claim', claims.map((c) => claimKey(c.id)), [config.claimTtlMs, ...claims.map((c) => c.value)])) as string[];
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
          const newest = Math.max(...touches.map((t) => t.time));
          // Which writes trim is chosen by event id (random hex digits), not by time: timestamps are
          // often round (whole seconds, fixed steps), and a choice by time would then trim never.
          const last = touches.at(-1)!.id;
          const trim = last.charCodeAt(last.length - 1) % TRIM_EVERY === 0;
          args.push('touch', first.ttlMs, trim ? newest - first.ttlMs : '', touches.length);
          for (const t of touches) args.push(t.time, encodeTouch(t));
        } else if (first.op === 'click') {
          args.push('click', first.ttlMs, `${first.touch.time} ${encodeTouch(first.touch)}`);
        } else {
          const ids = ws.flatMap((w) => (w.op === 'flood' ? [w.id] : []));
          args.push('flood', first.ttlMs, first.limit, ids.length, ...ids);
        }
      }
      await run('apply', keys, args);
    },
  };
}
