import { createSecretKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EventType, type BeaconEvent } from '../schemas/beacon-json.js';
import { beacon, pipeline } from '../schemas/gen/messages.js';
import { createCollector, reasonLabel, type RejectionSample } from './collector.js';
import { originsOf } from './cors.js';
import { createProduceQueue, type OutRecord } from './produce-queue.js';
import { createRateLimiter } from './rate-limit.js';
import { sign, type SigningKey } from './signature.js';
import { contractLimits } from './validate.js';

const now = 1_700_000_000_000;
const event = (userId: string, i: number): BeaconEvent => ({
  eventId: `6f1c2a8e-3b4d-4c5e-8f90-${String(i).padStart(12, '0')}`,
  type: EventType.IMPRESSION,
  occurredAt: now - 5_000,
  userId,
  deviceId: `dev-${userId}`,
  campaignId: 'c',
  creativeId: 'cr',
  placementId: 'p',
});

function setup(opts: { sendFails?: boolean; healthy?: boolean; appRate?: number; deviceRate?: number } = {}) {
  const sent: OutRecord[][] = [];
  const audits: RejectionSample[] = [];
  const queue = createProduceQueue(
    { maxEvents: 1_000, maxBytes: 1e6, lingerMs: 1, maxBatchBytes: 1e6, concurrency: 1 },
    {
      healthy: () => opts.healthy ?? true,
      async send(records) {
        if (opts.sendFails) throw new Error('broker down');
        sent.push(records);
      },
    },
  );
  const keys = new Map<string, SigningKey>([
    ['k1', { appId: 'app1', secret: createSecretKey(Buffer.from('s')), revoked: false }],
  ]);
  const collector = createCollector(
    { limits: contractLimits, signatureToleranceMs: 300_000 },
    {
      keys,
      origins: originsOf([{ app_id: 'app1', origin: 'https://shop.example' }]),
      queue,
      now: () => now,
      audit: (s) => audits.push(s),
      enrich: () => ({ ipHash: 'h', uaClass: 'app', invalidReason: '' }),
      appLimiter: createRateLimiter({ ratePerS: opts.appRate ?? 0, burst: 2 * (opts.appRate ?? 0) }),
      deviceLimiter: createRateLimiter({ ratePerS: opts.deviceRate ?? 0, burst: 2 * (opts.deviceRate ?? 0) }),
      metrics: { response() {}, eventsAccepted() {}, eventsRejected() {} },
    },
  );
  const post = (events: BeaconEvent[], over: { signature?: string; appId?: string; origin?: string } = {}) => {
    const body = beacon.v1.BeaconBatch.encode({ appId: over.appId ?? 'app1', sdk: 't', sentAt: now, events }).finish();
    return collector.handle({
      contentType: 'application/x-protobuf',
      body,
      ip: '198.51.100.1',
      userAgent: 'T/1',
      signature: over.signature ?? `t=${now},k=k1,v1=${sign('s', now, body)}`,
      ...(over.origin !== undefined && { origin: over.origin }),
    });
  };
  return { post, sent, audits };
}

describe('createCollector', () => {
  it("takes a page's beacons only from an origin the key's app registered, and any without an Origin", async () => {
    const { post, sent } = setup();
    expect((await post([event('a', 1)], { origin: 'https://shop.example' })).status).toBe(202);
    expect((await post([event('a', 2)], { origin: '' })).status).toBe(202);
    expect(await post([event('a', 3)], { origin: 'https://copycat.example' })).toEqual({
      status: 403,
      body: {
        error: 'origin_not_allowed',
        message: 'app app1 has not registered origin https://copycat.example (npm run apps -- origin)',
      },
    });
    expect((await post([event('a', 4)], { origin: 'https://shop.example', signature: 't=1,k=k1,v1=00' })).status).toBe(
      401,
    ); // the signature first: an origin says nothing about a stranger
    expect(sent.flat().length).toBe(2);
  });

  it('answers 202 after Kafka took one record per user, keyed by user_id, in order', async () => {
    const { post, sent } = setup();
    const res = await post([event('alice', 1), event('bob', 2), event('alice', 3)]);
    expect(res).toEqual({ status: 202, body: { accepted: 3, rejected: [] } });
    expect(sent).toHaveLength(1);
    const records = sent[0]!.map((r) => ({
      key: r.key,
      ids: pipeline.v1.AcceptedBeacons.decode(r.value).events.map((e) => e.event!.eventId!.slice(-1)),
    }));
    expect(records).toEqual([
      { key: 'alice', ids: ['1', '3'] },
      { key: 'bob', ids: ['2'] },
    ]);
    const rec = pipeline.v1.AcceptedBeacons.decode(sent[0]![0]!.value);
    expect(rec).toMatchObject({
      version: 1,
      appId: 'app1',
      keyId: 'k1',
      receivedAt: now,
      sentAt: now,
      ipHash: 'h',
      uaClass: 'app',
    });
    expect(rec.events[0]!.eventTime).toBe(now - 5_000);
  });

  it('carries protobuf events byte for byte, re-encoding only one whose event_id it lowercased', async () => {
    const { post, sent } = setup();
    const upper = { ...event('alice', 7), eventId: event('alice', 7).eventId!.toUpperCase(), attrs: { k: 'v' } };
    expect((await post([event('alice', 1), upper])).status).toBe(202);
    const events = pipeline.v1.AcceptedBeacons.decode(sent[0]![0]!.value).events.map((e) => e.event);
    expect(events.map((e) => e!.eventId)).toEqual([event('alice', 1).eventId, upper.eventId.toLowerCase()]);
    expect(events[1]!.attrs).toEqual({ k: 'v' });
  });

  it('answers 401 with the reason and audits it', async () => {
    const { post, sent, audits } = setup();
    expect(await post([event('a', 1)], { signature: `t=${now},k=k1,v1=${'0'.repeat(64)}` })).toMatchObject({
      status: 401,
      body: { error: 'bad_signature' },
    });
    expect(sent).toHaveLength(0);
    expect(audits).toMatchObject([{ status: 401, error: 'bad_signature' }]);
  });

  it('answers 401 app_mismatch when the batch names another app than the key', async () => {
    const { post } = setup();
    expect(await post([event('a', 1)], { appId: 'app2' })).toMatchObject({
      status: 401,
      body: { error: 'app_mismatch' },
    });
  });

  it('answers 202 with nothing produced when every event is rejected', async () => {
    const { post, sent } = setup();
    const res = await post([{ ...event('a', 1), eventId: 'x' }]);
    expect(res).toMatchObject({ status: 202, body: { accepted: 0, rejected: [{ index: 0 }] } });
    expect(sent).toHaveLength(0);
  });

  it.each([
    ['the broker is down', { healthy: false }, 'broker_unavailable'],
    ['the send fails', { sendFails: true }, 'broker_unavailable'],
  ])('answers 503 with Retry-After when %s', async (_n, opts, error) => {
    const { post } = setup(opts);
    expect(await post([event('a', 1)])).toMatchObject({ status: 503, body: { error }, retryAfterS: 2 });
  });

  it('answers 429 with Retry-After over the app or device rate', async () => {
    const app = setup({ appRate: 2 });
    expect((await app.post([event('a', 1), event('a', 2), event('a', 3), event('a', 4)])).status).toBe(202);
    expect(await app.post([event('a', 5)])).toMatchObject({
      status: 429,
      body: { error: 'app_rate_limited' },
      retryAfterS: 1,
    });
    const device = setup({ deviceRate: 1 });
    expect((await device.post([event('a', 1)])).status).toBe(202);
    expect((await device.post([event('a', 2)])).status).toBe(202);
    expect(await device.post([event('a', 3)])).toMatchObject({ status: 429, body: { error: 'device_rate_limited' } });
  });
});

describe('reasonLabel', () => {
  it.each([
    ['occurred_at: more than 7 days old', 'occurred_at'],
    ['attrs.k: value contains NUL', 'attrs'],
    ['user_id: contains NUL', 'user_id'],
    ['unknown field "x1"', 'malformed'],
    ['made_up_by_a_client: whatever', 'malformed'],
  ])('labels %j as %j, never with text the client chose', (reason, label) => {
    expect(reasonLabel(reason)).toBe(label);
  });
});
