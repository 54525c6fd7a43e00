import { describe, expect, it } from 'vitest';
import { beacon } from '../../schemas/gen/messages.js';
import { sign } from '../signature.js';
import { BeaconError, createBeaconClient, EventType } from './client.js';

const input = {
  type: EventType.CLICK,
  userId: 'u',
  deviceId: 'd',
  campaignId: 'c',
  creativeId: 'cr',
  placementId: 'p',
};
type Reply = { status: number; body?: unknown; retryAfter?: string; date?: string } | Error;

function fakeServer(replies: Reply[]) {
  const requests: { headers: Record<string, string>; body: Uint8Array; keepalive?: boolean }[] = [];
  const sleeps: number[] = [];
  const fetch = (async (
    _url: string,
    init: { headers: Record<string, string>; body: Uint8Array; keepalive?: boolean },
  ) => {
    requests.push({ headers: init.headers, body: init.body, keepalive: init.keepalive });
    const r = replies.shift() ?? { status: 202, body: { accepted: 1, rejected: [] } };
    if (r instanceof Error) throw r;
    return new Response(JSON.stringify(r.body ?? {}), {
      status: r.status,
      headers: { ...(r.retryAfter && { 'retry-after': r.retryAfter }), ...(r.date && { date: r.date }) },
    });
  }) as unknown as typeof globalThis.fetch;
  let t = 1_700_000_000_000;
  const client = createBeaconClient(
    { endpoint: 'http://collector', appId: 'app1', keyId: 'k1', secret: 's3cret', maxAttempts: 4 },
    { fetch, now: () => (t += 1_000), sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 },
  );
  const events = [client.event(input)];
  return { client, events, requests, sleeps };
}

describe('beacon SDK', () => {
  it('signs t + "." + body with HMAC-SHA256 the way the collector checks it', async () => {
    const { client, events, requests } = fakeServer([]);
    await client.send(events);
    const { headers, body } = requests[0]!;
    const [, t, k, v1] = /^t=(\d+),k=(\w+),v1=([0-9a-f]{64})$/.exec(headers['beacon-signature']!)!;
    expect(k).toBe('k1');
    expect(v1).toBe(sign('s3cret', Number(t), body));
    expect(beacon.v1.BeaconBatch.decode(body).sentAt).toBe(Number(t));
  });

  it('retries 503, 429 and network errors with backoff, keeping the event ids', async () => {
    const { client, events, requests, sleeps } = fakeServer([
      { status: 503 },
      new TypeError('fetch failed'),
      { status: 429, retryAfter: '3' },
    ]);
    const res = await client.send(events);
    expect(res).toMatchObject({ status: 202, attempts: 4 });
    expect(sleeps).toEqual([100, 200, 3_000]); // jittered 200·2^n·0.5, then Retry-After wins
    const ids = requests.map((r) => beacon.v1.BeaconBatch.decode(r.body).events[0]!.eventId);
    expect(new Set(ids)).toEqual(new Set([events[0]!.eventId]));
    const ts = requests.map((r) => r.headers['beacon-signature']!.split(',')[0]);
    expect(new Set(ts).size).toBe(4); // each attempt is signed afresh
  });

  it.each([400, 401, 413, 415])('never retries %i', async (status) => {
    const { client, events, requests } = fakeServer([{ status, body: { error: 'nope', message: 'no' } }]);
    await expect(client.send(events)).rejects.toMatchObject({ status, code: 'nope', attempts: 1 });
    expect(requests).toHaveLength(1);
  });

  it("signs again once on the collector's clock when the device's is off, and keeps that clock", async () => {
    const { client, events, requests } = fakeServer([
      { status: 401, body: { error: 'timestamp_too_old' }, date: 'Tue, 14 Nov 2023 22:20:00 GMT' },
      { status: 202, body: { accepted: 1, rejected: [] } },
      { status: 202, body: { accepted: 1, rejected: [] } },
      { status: 401, body: { error: 'timestamp_too_old' }, date: 'Tue, 14 Nov 2023 22:20:00 GMT' },
      { status: 401, body: { error: 'timestamp_too_old' }, date: 'Tue, 14 Nov 2023 22:20:00 GMT' },
    ]);
    expect(await client.send(events, { keepalive: true })).toMatchObject({ status: 202, attempts: 1 });
    const t = (i: number) => Number(/^t=(\d+)/.exec(requests[i]!.headers['beacon-signature']!)![1]);
    expect(t(0)).toBe(1_700_000_002_000); // the device's clock (each now() is a second on)
    expect(t(1) - Date.parse('Tue, 14 Nov 2023 22:20:00 GMT')).toBe(1_000); // the collector's, one tick on
    expect(requests.map((r) => r.keepalive)).toEqual([true, true]);
    await client.send(events); // the same clock for the next batch
    expect(t(2) - Date.parse('Tue, 14 Nov 2023 22:20:00 GMT')).toBe(2_000);
    await expect(client.send(events)).rejects.toMatchObject({ status: 401, code: 'timestamp_too_old' }); // once per send
  });

  it('sends frames on the stream when it has one, signed as a POST is, and POSTs a keepalive send', async () => {
    const { events, requests } = fakeServer([]);
    const frames: Uint8Array[] = [];
    const client = createBeaconClient(
      { endpoint: 'http://collector', appId: 'app1', keyId: 'k1', secret: 's3cret', maxAttempts: 2 },
      {
        fetch: (async () => new Response('{"accepted":1,"rejected":[]}', { status: 202 })) as unknown as typeof fetch,
        sleep: async () => {},
        stream: async (frame) => {
          frames.push(frame);
          return frames.length === 1
            ? { status: 503, body: { error: 'queue_full' }, retryAfterS: 0 }
            : { status: 202, body: { accepted: 1, rejected: [] }, retryAfterS: 0 };
        },
      },
    );
    expect(await client.send(events)).toMatchObject({ status: 202, attempts: 2 });
    const frame = beacon.v1.SignedBatch.decode(frames[1]!);
    expect([frame.keyId, frame.signature]).toEqual(['k1', sign('s3cret', Number(frame.t), frame.batch)]);
    expect(beacon.v1.BeaconBatch.decode(frame.batch).events[0]!.eventId).toBe(events[0]!.eventId);
    await client.send(events, { keepalive: true });
    expect([frames.length, requests.length]).toEqual([2, 0]); // the keepalive went by this client's fetch
  });

  it("learns the collector's clock by a POST when a stream frame is refused for its time", async () => {
    const collectorNow = Date.parse('Tue, 14 Nov 2023 22:20:00 GMT');
    const inWindow = (t: number) => Math.abs(t - collectorNow) < 300_000;
    const answer = (t: number) =>
      inWindow(t)
        ? { status: 202, body: { accepted: 1, rejected: [] } }
        : { status: 401, body: { error: 'timestamp_in_future' } };
    const frames: number[] = [];
    const posts: number[] = [];
    const stream = async (frame: Uint8Array) => {
      const t = Number(beacon.v1.SignedBatch.decode(frame).t);
      frames.push(t);
      return { ...answer(t), retryAfterS: 0 }; // an ack carries no Date
    };
    const fetch = (async (_url: string, init: { headers: Record<string, string> }) => {
      const t = Number(/^t=(\d+)/.exec(init.headers['beacon-signature']!)![1]);
      posts.push(t);
      const { status, body } = answer(t);
      return new Response(JSON.stringify(body), { status, headers: { date: new Date(collectorNow).toUTCString() } });
    }) as unknown as typeof globalThis.fetch;
    const client = createBeaconClient(
      { endpoint: 'http://collector', appId: 'app1', keyId: 'k1', secret: 's', maxAttempts: 1 },
      { fetch, stream, now: () => collectorNow + 3_600_000 }, // the device is an hour ahead
    );
    const events = [client.event(input)];
    expect(await client.send(events)).toMatchObject({ status: 202 });
    // the frame is refused; a POST learns the clock from its answer's Date; the next POST is on it
    expect([frames.map(inWindow), posts.map(inWindow)]).toEqual([[false], [false, true]]);
    expect(await client.send(events)).toMatchObject({ status: 202 });
    expect([frames.map(inWindow), posts.length]).toEqual([[false, true], 2]); // the stream again, on the right clock
  });

  it('fails a request not answered within timeoutMs as a network error, a keepalive one too', async () => {
    const fetch = ((_url: string, init: RequestInit) =>
      new Promise((_resolve, reject) =>
        init.signal!.addEventListener('abort', () => reject(init.signal!.reason)),
      )) as unknown as typeof globalThis.fetch;
    const client = createBeaconClient(
      { endpoint: 'http://collector', appId: 'app1', keyId: 'k1', secret: 's', maxAttempts: 1, timeoutMs: 50 },
      { fetch },
    );
    await expect(client.send([client.event(input)])).rejects.toMatchObject({ status: 0, code: 'network_error' });
    await expect(client.send([client.event(input)], { keepalive: true })).rejects.toMatchObject({ status: 0 });
  });

  it('makes events with random v4 UUIDs, and refuses a field it could not encode', () => {
    const client = createBeaconClient({ endpoint: 'http://c', appId: 'a', keyId: 'k', secret: 's' });
    const ids = Array.from({ length: 100 }, () => client.event(input).eventId);
    expect(ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id!))).toBe(
      true,
    );
    expect(new Set(ids).size).toBe(100);
    expect(() => client.event({ ...input, valueMicros: 2.5 })).toThrow(
      new TypeError('beacon event valueMicros: expected a safe integer, got 2.5'),
    );
  });

  it.each([
    [
      'a 202 with a malformed rejected list',
      202,
      { accepted: 1, rejected: [null, { index: 'x' }, { index: 0, reason: 'r' }] },
      null,
      { status: 202, rejected: [{ index: 0, reason: 'r' }] },
    ],
    ['a 202 whose rejected is not a list', 202, { rejected: 1 }, null, { status: 202, accepted: 0, rejected: [] }],
    ['a 503 whose body is null', 503, null, '2', { status: 503, code: 'unknown', retryAfterS: 2 }],
    ['a 429 whose Retry-After is not seconds', 429, 'busy', 'soon', { status: 429, retryAfterS: 0 }],
  ])('reads %s as far as it can be trusted', async (_what, status, body, retryAfter, expected) => {
    const fetch = (async () =>
      new Response(JSON.stringify(body), {
        status,
        headers: retryAfter ? { 'retry-after': retryAfter } : {},
      })) as unknown as typeof globalThis.fetch;
    const client = createBeaconClient(
      { endpoint: 'http://collector', appId: 'app1', keyId: 'k1', secret: 's', maxAttempts: 1 },
      { fetch },
    );
    const sent = client.send([client.event(input)]);
    if (status === 202) expect(await sent).toMatchObject(expected);
    else await expect(sent).rejects.toMatchObject(expected);
  });

  it('refuses, before sending, an event it cannot encode', async () => {
    const { client, requests } = fakeServer([]);
    const bad = { ...client.event(input), valueMicros: 2.5 };
    await expect(client.send([bad])).rejects.toMatchObject({ status: 400, code: 'unencodable' });
    expect(requests).toEqual([]);
  });

  it('gives up after maxAttempts', async () => {
    const { client, events } = fakeServer([
      { status: 503 },
      { status: 503 },
      { status: 503 },
      { status: 503 },
      { status: 503 },
    ]);
    await expect(client.send(events)).rejects.toBeInstanceOf(BeaconError);
  });
});
