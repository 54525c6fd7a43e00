import { createSecretKey, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { pipeline } from '../schemas/gen/messages.js';
import { createConfirmations } from './confirmations.js';
import type { Enqueued, OutRecord } from './produce-queue.js';
import { signNetworkQuery, signPostback } from './s2s-signing.js';

const NOW = 1_700_000_000_000;

function setup(enqueue: (records: OutRecord[]) => Enqueued) {
  const counted: [string, string][] = [];
  const sent: OutRecord[] = [];
  const s2s = createConfirmations(
    { topic: 'conf_test', signatureToleranceMs: 300_000 },
    {
      admobKeys: { get: async () => ({ ok: false, why: 'unknown' }) },
      keys: {
        adUnit: (network, unit) =>
          network === 'pangle' && unit === 'a.rewarded' ? { appId: 'app.a', campaignId: 'a-video' } : undefined,
        networkSecrets: (network, appId) =>
          network === 'pangle' && appId === 'app.a'
            ? [{ secretId: '9', secret: createSecretKey(Buffer.from('s')) }]
            : [],
        campaign: () => undefined,
      },
      queue: { enqueue: (records) => (sent.push(...records), enqueue(records)) },
      metrics: { confirmation: (source, outcome) => counted.push([source, outcome]) },
      now: () => NOW,
    },
  );
  return { s2s, counted, sent };
}
const query = (eventId = randomUUID()) =>
  signNetworkQuery(
    {
      app_id: 'app.a',
      ad_unit: 'a.rewarded',
      user_id: 'u1',
      custom_data: eventId,
      transaction_id: 't1',
      timestamp: NOW - 5,
    },
    's',
  );

describe('confirmations', () => {
  it.each<[string, () => Enqueued, number, Record<string, unknown>, string]>([
    ['acknowledged by Kafka', () => ({ ok: true, acked: Promise.resolve() }), 200, { status: 'recorded' }, 'recorded'],
    [
      'refused by a full queue',
      () => ({ ok: false, reason: 'queue_full' }),
      503,
      { error: 'queue_full' },
      'queue_full',
    ],
    [
      'refused while the broker is down',
      () => ({ ok: false, reason: 'broker_unavailable' }),
      503,
      { error: 'broker_unavailable' },
      'broker_unavailable',
    ],
    [
      'not acknowledged in time',
      () => ({ ok: true, acked: Promise.reject(new Error('timeout')) }),
      503,
      { error: 'broker_unavailable' },
      'broker_unavailable',
    ],
  ])('answers a verified callback %s', async (_name, enqueue, status, body, outcome) => {
    const t = setup(enqueue);
    const res = await t.s2s.network('pangle', query());
    expect(res).toMatchObject({ status, body, ...(status === 503 ? { retryAfterS: 2 } : {}) });
    expect(t.counted).toEqual([['hmac', outcome]]);
  });

  it("enqueues one Confirmation for the confirmations topic, keyed by user_id, with the server's receive time and the ad unit's campaign", async () => {
    const t = setup(() => ({ ok: true, acked: Promise.resolve() }));
    const eventId = randomUUID();
    await t.s2s.network('pangle', query(eventId));
    expect(t.sent).toHaveLength(1);
    expect(t.sent[0]).toMatchObject({ topic: 'conf_test', key: 'u1', events: 1 });
    expect(pipeline.v1.Confirmation.decode(t.sent[0]!.value)).toMatchObject({
      version: 1,
      source: 'pangle',
      transactionId: 't1',
      appId: 'app.a',
      userId: 'u1',
      campaignId: 'a-video',
      adUnit: 'a.rewarded',
      eventId,
      receivedAt: NOW,
      occurredAt: NOW - 5,
      keyId: '9',
    });
  });

  it('records a postback the advertiser sent again (same body, new t) under the same transaction_id', async () => {
    const secret = createSecretKey(Buffer.from('pb'));
    const sent: OutRecord[] = [];
    const s2s = createConfirmations(
      { topic: 'conf_test', signatureToleranceMs: 300_000 },
      {
        admobKeys: { get: async () => ({ ok: false, why: 'unknown' }) },
        keys: {
          adUnit: () => undefined,
          networkSecrets: () => [],
          campaign: (id) => (id === 'camp-a' ? { appId: 'app.a', secret } : undefined),
        },
        queue: { enqueue: (records) => (sent.push(...records), { ok: true, acked: Promise.resolve() }) },
        metrics: { confirmation: () => undefined },
        now: () => NOW,
      },
    );
    const eventId = randomUUID();
    const body = JSON.stringify({
      campaign_id: 'camp-a',
      event_id: eventId.toUpperCase(),
      user_id: 'u1',
      occurred_at: NOW - 1_000,
    });
    for (const t of [NOW - 200_000, NOW]) {
      expect(
        await s2s.postback({
          contentType: 'application/json',
          signature: signPostback(body, 'pb', t),
          body: Buffer.from(body),
        }),
      ).toMatchObject({ status: 200 });
    }
    expect(sent.map((r) => pipeline.v1.Confirmation.decode(r.value).transactionId)).toEqual([
      `camp-a:${eventId}`,
      `camp-a:${eventId}`,
    ]);
  });

  it('records nothing for a refused callback', async () => {
    const t = setup(() => ({ ok: true, acked: Promise.resolve() }));
    expect(await t.s2s.network('pangle', query().replace('u1', 'u2'))).toMatchObject({ status: 401 });
    expect(await t.s2s.admob('a=1&signature=AAAAAAAA&key_id=1')).toMatchObject({
      status: 403,
      body: { error: 'unknown_key' },
    });
    expect(t.sent).toEqual([]);
    expect(t.counted).toEqual([
      ['hmac', 'bad_signature'],
      ['admob', 'unknown_key'],
    ]);
  });
});
