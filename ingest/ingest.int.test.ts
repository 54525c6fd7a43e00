// The collector against the real Kafka and Postgres of the local stack, over HTTP and WebSocket.
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BeaconEvent } from '../schemas/beacon-json.js';
import { beacon } from '../schemas/gen/messages.js';
import { topics } from '../schemas/topics.js';
import { createBeaconClient, EventType, type BeaconClient } from './sdk/client.js';
import { keySql } from './keys-pg.js';
import { sign } from './signature.js';
import { readTopic, startTestCollector } from './test-support.js';

let c: Awaited<ReturnType<typeof startTestCollector>>;
let client: BeaconClient;
const ev = (userId: string, type: EventType = EventType.IMPRESSION) =>
  client.event({ type, userId, deviceId: `d-${userId}`, campaignId: 'camp', creativeId: 'cr', placementId: 'pl' });
/** A body signed with the first key (before the revocation test). */
const post = (body: Buffer, contentType: string, t = Date.now()) =>
  fetch(`${c.url}/v1/beacons`, {
    method: 'POST',
    body,
    headers: {
      'content-type': contentType,
      'beacon-signature': `t=${t},k=${c.key.keyId},v1=${sign(c.key.secret, t, body)}`,
    },
  });

beforeAll(async () => {
  c = await startTestCollector({ INGEST_AUDIT_SAMPLE_RATE: '1' });
  client = createBeaconClient({ endpoint: c.url, appId: 'test.app', ...c.key, maxAttempts: 1 });
});
afterAll(() => c?.stop());

describe('ingest collector (real Kafka)', () => {
  it('puts accepted events on the topic, one record per user keyed by user_id', async () => {
    const events = [ev('alice'), ev('bob'), ev('alice', EventType.CLICK)];
    expect(await client.send(events)).toMatchObject({ status: 202, accepted: 3, rejected: [] });
    const records = await readTopic(c.kafka, c.topic, 3);
    const byKey = Object.fromEntries(records.map((r) => [r.key, r.value.events.map((e) => e.event!.eventId)]));
    expect(byKey).toEqual({ alice: [events[0]!.eventId, events[2]!.eventId], bob: [events[1]!.eventId] });
    expect(records[0]!.value).toMatchObject({ version: 1, appId: 'test.app', keyId: c.key.keyId });
  });

  it('accepts the JSON form too', async () => {
    const json = createBeaconClient({ endpoint: c.url, appId: 'test.app', ...c.key, format: 'json', maxAttempts: 1 });
    expect(await json.send([ev('carol')])).toMatchObject({ status: 202, accepted: 1 });
  });

  // A NUL or a lone surrogate cannot be stored as sent (Postgres refuses NUL; a lone surrogate has no
  // UTF-8 form), nor can bytes that are not UTF-8. Accepted, one would poison its whole record
  // downstream, siblings included. Each row sends a bad event beside a good one.
  it('rejects only the event whose text cannot be stored; its sibling lands in a clean record', async () => {
    const t = Date.now();
    const notUtf8 = (events: BeaconEvent[]) => {
      const pb = Buffer.from(
        beacon.v1.BeaconBatch.encode({ appId: 'test.app', sdk: 'it', sentAt: t, events }).finish(),
      );
      pb[pb.indexOf(Buffer.from('é')) + 1] = 0x28; // c3 28 is not UTF-8
      return post(pb, 'application/x-protobuf', t).then(async (res) => ({
        status: res.status,
        ...((await res.json()) as object),
      }));
    };
    const send = (format: 'json' | 'protobuf') => (events: BeaconEvent[]) =>
      createBeaconClient({ endpoint: c.url, appId: 'test.app', ...c.key, format, maxAttempts: 1 }).send(events);
    const rows = [
      [
        'a lone surrogate (a JSON escape) in user_id',
        send('json'),
        { userId: '\uD800' },
        'user_id: contains a lone UTF-16 surrogate',
      ],
      ['a NUL user_id', send('protobuf'), { userId: '\u0000' }, 'user_id: contains NUL'],
      ['a NUL user_id in JSON', send('json'), { userId: '\u0000' }, 'user_id: contains NUL'],
      ['an attrs value that is not UTF-8', notUtf8, { attrs: { k: 'é' } }, 'attrs: value not UTF-8'],
    ] as const;
    const goods: BeaconEvent[] = [];
    const bads: BeaconEvent[] = [];
    for (const [name, sender, over, reason] of rows) {
      const [bad, good] = [{ ...ev('grace'), ...over }, ev('grace')];
      expect(await sender([bad, good]), name).toMatchObject({
        status: 202,
        accepted: 1,
        rejected: [{ index: 0, reason }],
      });
      goods.push(good);
      bads.push(bad);
    }
    // Read back (each record decoded strictly: valid UTF-8 throughout): every good event, no bad one.
    const records = await readTopic(c.kafka, c.topic, (ids) => goods.every((g) => ids.includes(g.eventId!)));
    const events = new Map(
      records.flatMap((r) =>
        r.value.events.map((e) => [e.event!.eventId!, { key: r.key, userId: e.event!.userId }] as const),
      ),
    );
    for (const good of goods) expect(events.get(good.eventId!)).toEqual({ key: 'grace', userId: 'grace' });
    for (const bad of bads) expect(events.has(bad.eventId!)).toBe(false);
  });

  it('refuses a JSON body that is not UTF-8 with 400', async () => {
    const json = Buffer.from(
      JSON.stringify({
        appId: 'test.app',
        sdk: 'it',
        sentAt: String(Date.now()),
        events: [{ ...ev('heidi'), type: 'CLICK', userId: 'é' }],
      }),
    );
    json[json.indexOf(Buffer.from('é')) + 1] = 0x28;
    const refused = await post(json, 'application/json');
    expect([refused.status, await refused.json()]).toEqual([
      400,
      { error: 'undecodable_body', message: 'the JSON body is not UTF-8' },
    ]);
  });

  it('honours a revocation and a new key within seconds, without a restart', async () => {
    const fresh = await c.createKey('test.app');
    await c.revoke(c.key.keyId);
    const next = createBeaconClient({ endpoint: c.url, appId: 'test.app', ...fresh, maxAttempts: 1 });
    let revokedSeen = false;
    for (let i = 0; i < 50 && !revokedSeen; i++) {
      revokedSeen = await client.send([ev('dave')]).then(
        () => false,
        (err: { code: string }) => err.code === 'key_revoked',
      );
      if (!revokedSeen) await sleep(100);
    }
    expect(revokedSeen).toBe(true);
    expect(await next.send([ev('dave')])).toMatchObject({ status: 202 });
    client = next;
  });

  it("takes a registered origin's page within seconds of `npm run apps -- origin`, and refuses other origins", async () => {
    const preflight = (origin: string) =>
      fetch(`${c.url}/v1/beacons`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'beacon-signature',
        },
      }).then((r) => r.status);
    const key = await c.createKey('test.app');
    const fromPage = async (origin: string) => {
      const t = Date.now();
      const body = Buffer.from(
        beacon.v1.BeaconBatch.encode({ appId: 'test.app', sdk: 'it', sentAt: t, events: [ev('page')] }).finish(),
      );
      const res = await fetch(`${c.url}/v1/beacons`, {
        method: 'POST',
        body,
        headers: {
          origin,
          'content-type': 'application/x-protobuf',
          'beacon-signature': `t=${t},k=${key.keyId},v1=${sign(key.secret, t, body)}`,
        },
      });
      return {
        status: res.status,
        cors: res.headers.get('access-control-allow-origin'),
        ...((await res.json()) as object),
      };
    };
    expect(await preflight('https://news.example')).toBe(403);
    await c.query(keySql['add-origin'], ['test.app', 'https://news.example']);
    let status = 0;
    for (let i = 0; i < 50 && status !== 204; i++)
      if ((status = await preflight('https://news.example')) !== 204) await sleep(100);
    expect(status).toBe(204);
    expect(await fromPage('https://news.example')).toMatchObject({
      status: 202,
      cors: 'https://news.example',
      accepted: 1,
    });
    expect(await fromPage('https://copycat.example')).toMatchObject({
      status: 403,
      cors: null,
      error: 'origin_not_allowed',
    });
  });

  it('refuses a body over 256 KiB while it streams, without a Content-Length', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${c.url}/v1/beacons`,
        { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      for (let i = 0; i < 5; i++) req.write(chunk);
      req.end();
    });
    expect(status).toBe(413);
  });

  it('answers each WebSocket frame with one ack, in seq order from 0', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${c.port}/v1/stream`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const acks: { seq: number; status: number; accepted?: number; error?: string }[] = [];
    ws.on('message', (data) => acks.push(JSON.parse(String(data))));
    const frame = (events: ReturnType<typeof ev>[]) => {
      const t = Date.now();
      const batch = beacon.v1.BeaconBatch.encode({ appId: 'test.app', sdk: 'ws', sentAt: t, events }).finish();
      return beacon.v1.SignedBatch.encode({
        keyId: keyUsed.keyId,
        t,
        signature: sign(keyUsed.secret, t, batch),
        batch,
      }).finish();
    };
    const keyUsed = await c.createKey('test.app');
    await sleep(1_000); // the key cache reloads on NOTIFY; give it a moment
    ws.send(frame([ev('erin')]));
    ws.send(Buffer.from('not a frame'));
    ws.send(frame([ev('erin'), ev('frank')]));
    ws.send('text');
    for (let i = 0; i < 100 && acks.length < 4; i++) await sleep(50);
    ws.close();
    // In arrival order: the refusal of frame 1 waits for frame 0, which waited on Kafka.
    expect(acks.map((a) => [a.seq, a.status, a.accepted ?? a.error])).toEqual([
      [0, 202, 1],
      [1, 400, 'undecodable_frame'],
      [2, 202, 2],
      [3, 400, 'text_frame'],
    ]);
  });

  it('sends a sample of a refused request, with its reason, to beacons.rejected.v1', async () => {
    const key = await c.createKey('test.app');
    await sleep(1_000); // the key cache reloads on NOTIFY
    const t = Date.now();
    const body = Buffer.from('{"appId": 42}');
    const res = await fetch(`${c.url}/v1/beacons`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'beacon-signature': `t=${t},k=${key.keyId},v1=${sign(key.secret, t, body)}`,
      },
    });
    expect(res.status).toBe(400);
    const consumer = c.kafka.consumer({ groupId: `audit-${key.keyId}` });
    await consumer.connect();
    await consumer.subscribe({ topic: topics.beaconsRejected.name, fromBeginning: true });
    const sample = await new Promise<Record<string, unknown>>((resolve) => {
      void consumer.run({
        eachMessage: async ({ message }) => {
          if (!String(message.value).includes(key.keyId)) return; // the shared topic holds other tests' records
          const s = JSON.parse(String(message.value)) as Record<string, unknown>;
          if (s.key_id === key.keyId) resolve(s);
        },
      });
    });
    await consumer.disconnect();
    expect(sample).toMatchObject({
      status: 400,
      reason: 'undecodable_body',
      app_id: 'test.app',
      body_bytes: body.length,
    });
    expect(Buffer.from(sample.body_sample_b64 as string, 'base64').equals(body)).toBe(true);
  });

  it('serves /healthz and /readyz on the public port, and /metrics only on the ops listener', async () => {
    expect((await fetch(`${c.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${c.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${c.url}/metrics`)).status).toBe(404);
    expect(c.opsUrl).not.toBe(c.url);
    expect((await fetch(`${c.opsUrl}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${c.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/ingest_requests_total\{status="202",error=""\} \d+/);
    expect(metrics).toMatch(/ingest_broker_up 1/);
    expect(metrics).toMatch(/ingest_events_rejected_total\{reason="user_id"\} [1-9]/);
  });
});
