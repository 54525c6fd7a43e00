// Thousands of random and mutated bodies, each correctly signed so it reaches the decoders and
// validators: the collector never crashes, answers each with a contract status, and what it accepts
// (read back from Kafka) satisfies the contract, checked here independently of ingest/validate.ts.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { beacon } from '../schemas/gen/messages.js';
import { sign } from './signature.js';
import { readTopic, startTestCollector } from './test-support.js';

let c: Awaited<ReturnType<typeof startTestCollector>>;
beforeAll(async () => {
  c = await startTestCollector({ INGEST_AUDIT_SAMPLE_RATE: '0' });
});
afterAll(() => c?.stop());

// A seeded generator, so a failure can be replayed.
let seed = 20261122;
const rnd = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const uuid = () => crypto.randomUUID();
const weird = () =>
  pick<unknown>([
    '',
    'x'.repeat(70),
    -1,
    0,
    1.5,
    null,
    true,
    [],
    {},
    '2',
    uuid(),
    'CLICK',
    99,
    'é'.repeat(40),
    '9'.repeat(30),
    'a\u0000b',
    '\uD800',
    'x\uDC00',
    '😀',
    { k: '\u0000' },
    { '\uD83D': 'v' },
  ]);

function validEvent(now: number) {
  return {
    eventId: uuid(),
    type: 1 + Math.floor(rnd() * 5),
    occurredAt: now - Math.floor(rnd() * 1e6),
    userId: `u${Math.floor(rnd() * 9)}`,
    deviceId: 'd',
    campaignId: 'c',
    creativeId: 'cr',
    placementId: 'p',
    ...(rnd() < 0.3 ? { attrs: { a: 'b' } } : {}),
  };
}

function body(now: number): { type: string; bytes: Buffer } {
  const events = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => validEvent(now));
  const batch = { appId: 'test.app', sdk: 'fuzz', sentAt: now, events };
  const kind = pick(['random', 'pb-flip', 'pb-truncate', 'json-mutate', 'json-garbage', 'valid']);
  if (kind === 'random')
    return { type: pick(['application/x-protobuf', 'application/json']), bytes: randomBytes(Math.floor(rnd() * 600)) };
  if (kind === 'pb-flip' || kind === 'pb-truncate') {
    const pb = Buffer.from(beacon.v1.BeaconBatch.encode(batch).finish());
    if (kind === 'pb-truncate')
      return { type: 'application/x-protobuf', bytes: pb.subarray(0, Math.floor(rnd() * pb.length)) };
    for (let i = 0; i < 1 + rnd() * 4; i++) pb[Math.floor(rnd() * pb.length)] = Math.floor(rnd() * 256);
    return { type: 'application/x-protobuf', bytes: pb };
  }
  if (kind === 'json-garbage')
    return {
      type: 'application/json',
      bytes: Buffer.from(JSON.stringify(batch).slice(0, Math.floor(rnd() * 200)) + pick(['}', ']', '"', ''])),
    };
  if (kind === 'json-mutate') {
    const doc = JSON.parse(JSON.stringify(batch)) as Record<string, unknown> & { events: Record<string, unknown>[] };
    const target: Record<string, unknown> = rnd() < 0.3 ? doc : pick(doc.events);
    const k = pick([...Object.keys(target), 'bogus', 'event_id', 'occurred_at']);
    if (rnd() < 0.3) delete target[k];
    else target[k] = weird();
    return { type: 'application/json', bytes: Buffer.from(JSON.stringify(doc)) };
  }
  return { type: 'application/x-protobuf', bytes: Buffer.from(beacon.v1.BeaconBatch.encode(batch).finish()) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ID = (s: string | null | undefined) => typeof s === 'string' && s.length >= 1 && s.length <= 64;
// Storable as sent: no NUL, and UTF-8 round trip unchanged (a lone surrogate comes back as U+FFFD).
const storable = (s: string | null | undefined) =>
  s == null || (!s.includes('\u0000') && Buffer.from(s).toString() === s);

describe('collector fuzzing', () => {
  it('survives 3,000 hostile bodies and accepts only contract-valid events', async () => {
    const statuses = new Map<number, number>();
    let accepted = 0;
    const jobs = Array.from({ length: 3_000 }, (_, i) => i);
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let job = jobs.pop(); job !== undefined; job = jobs.pop()) {
          const now = Date.now();
          const b = body(now);
          const res = await fetch(`${c.url}/v1/beacons`, {
            method: 'POST',
            body: b.bytes,
            headers: {
              'content-type': b.type,
              'beacon-signature': `t=${now},k=${c.key.keyId},v1=${sign(c.key.secret, now, b.bytes)}`,
            },
          });
          const json = (await res.json()) as { accepted?: number; rejected?: unknown[]; error?: string };
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 202) accepted += json.accepted!;
          else expect(json.error).toMatch(/^[a-z_]+$/);
        }
      }),
    );
    expect([...statuses.keys()].every((s) => [202, 400, 401, 413, 415].includes(s))).toBe(true); // 401: a mutated app_id
    expect(statuses.get(202)).toBeGreaterThan(100);
    expect(statuses.get(400)).toBeGreaterThan(100);
    expect((await fetch(`${c.url}/healthz`)).status).toBe(200);

    const events = (await readTopic(c.kafka, c.topic, accepted, 30_000)).flatMap((r) => r.value.events);
    expect(events.length).toBe(accepted);
    for (const { event: e } of events) {
      expect(UUID.test(e!.eventId!) && e!.type! >= 1 && e!.type! <= 5 && e!.occurredAt! > 0).toBe(true);
      expect([e!.userId, e!.deviceId, e!.campaignId, e!.creativeId, e!.placementId].every(ID)).toBe(true);
      expect(
        [
          e!.userId,
          e!.deviceId,
          e!.campaignId,
          e!.creativeId,
          e!.placementId,
          e!.clickId,
          e!.currency,
          ...Object.entries(e!.attrs ?? {}).flat(),
        ].every(storable),
      ).toBe(true);
    }
  });
});
