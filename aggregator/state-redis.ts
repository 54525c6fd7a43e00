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

  const writeArgs = (w: StateWrite): (string | number)[] => {
    if (w.op === 'touch') return ['touch', w.key, w.ttlMs, w.touch.time, encodeTouch(w.touch)];
    if (w.op === 'click') return ['click', w.key, w.ttlMs, 0, `${w.touch.time} ${encodeTouch(w.touch)}`];
    return ['flood', w.key, w.ttlMs, 0, w.id];
  };

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
        const args: (string | number)[] = [p, config.claimTtlMs];
        for (const c of claims.slice(start, start + CLAIMS_PER_CALL)) {
          args.push(c.id, c.value, c.writes.length);
          for (const w of c.writes) args.push(...writeArgs(w));
        }
        found.push(...await claimEvents(...args));
      }
      return found;
    },
  };
}
