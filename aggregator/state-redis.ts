// The attribution state and event claims in Redis (layout: state.ts, lua/claim.lua). Redis keeps
// them across restarts and shares them between aggregator processes, so a partition can move to
// another process and carry on; every key expires with its window.
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Claim, Needs } from './process-batch.js';
import { decodeTouch, encodeTouch, type Snapshot, type StateWrite } from './state.js';

const claimLua = readFileSync(new URL('./lua/claim.lua', import.meta.url), 'utf8');
const CLAIMS_PER_CALL = 1_000; // keeps each script short, so Redis stays responsive

type ClaimCommand = (...args: (string | number)[]) => Promise<string[]>;

export function createRedisState(config: { prefix: string; claimTtlMs: number }, deps: { redis: Redis }) {
  const { redis } = deps;
  const p = config.prefix;
  redis.defineCommand('claimEvents', { numberOfKeys: 0, lua: claimLua });
  const claimEvents = (redis as unknown as { claimEvents: ClaimCommand }).claimEvents.bind(redis);

  /** A write as (score, member) of its key's group; a click's time travels in its value. */
  const member = (w: StateWrite): [number, string] => {
    if (w.op === 'touch') return [w.touch.time, encodeTouch(w.touch)];
    if (w.op === 'click') return [w.touch.time, `${w.touch.time} ${encodeTouch(w.touch)}`];
    return [0, w.id];
  };

  /** Script arguments for one chunk: the claims, then the writes grouped by key (one ZADD per key). */
  function claimArgs(claims: Claim[]): (string | number)[] {
    const args: (string | number)[] = [p, config.claimTtlMs, claims.length];
    const groups = new Map<string, { w: StateWrite; members: (string | number)[] }>();
    claims.forEach((c, index) => {
      args.push(c.id, c.value);
      for (const w of c.writes) {
        let g = groups.get(w.key);
        if (!g) groups.set(w.key, (g = { w, members: [] }));
        g.members.push(index + 1, ...member(w));
      }
    });
    for (const [key, g] of groups) args.push(g.w.op, key, g.w.ttlMs, g.members.length / 3, ...g.members);
    return args;
  }

  return {
    async load(needs: Needs): Promise<Snapshot> {
      const snapshot: Snapshot = { touches: new Map(), clicks: new Map(), flood: new Map() };
      if (needs.touches.length + needs.clicks.length + needs.flood.length === 0) return snapshot;
      const tx = redis.pipeline();
      for (const key of needs.touches) tx.zrange(p + key, 0, -1, 'WITHSCORES');
      for (const key of needs.flood) tx.scard(p + key);
      if (needs.clicks.length > 0) tx.mget(needs.clicks.map((k) => p + k));
      const results = (await tx.exec()) ?? [];
      const value = (i: number) => {
        const [err, v] = results[i]!;
        if (err) throw err;
        return v;
      };
      needs.touches.forEach((key, i) => {
        const flat = value(i) as string[];
        const touches = [];
        for (let j = 0; j < flat.length; j += 2) touches.push(decodeTouch(flat[j]!, Number(flat[j + 1])));
        snapshot.touches.set(key, touches);
      });
      needs.flood.forEach((key, i) => snapshot.flood.set(key, { count: value(needs.touches.length + i) as number, ids: new Set() }));
      if (needs.clicks.length > 0) {
        (value(needs.touches.length + needs.flood.length) as (string | null)[]).forEach((v, i) => {
          if (!v) return;
          const space = v.indexOf(' ');
          snapshot.clicks.set(needs.clicks[i]!, decodeTouch(v.slice(space + 1), Number(v.slice(0, space))));
        });
      }
      return snapshot;
    },

    async claim(claims: Claim[]): Promise<string[]> {
      const found: string[] = [];
      for (let start = 0; start < claims.length; start += CLAIMS_PER_CALL) {
        found.push(...await claimEvents(...claimArgs(claims.slice(start, start + CLAIMS_PER_CALL))));
      }
      return found;
    },
  };
}
