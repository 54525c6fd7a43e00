import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createLogger } from '../common/log.js';
import { beacon } from '../schemas/gen/messages.js';
import type { BeaconRequest, BeaconResponse } from './collector.js';
import type { Confirmations, PostbackRequest } from './confirmations.js';
import { originsOf } from './cors.js';
import { createNodeServer } from './server-node.js';
import { createUwsServer } from './server-uws.js';

const servers = { uws: createUwsServer, node: createNodeServer };
/** S2S handlers that record what they were given and answer with it. */
const seenS2s: unknown[] = [];
const fakeS2s: Confirmations = {
  admob: async (query: string) => (seenS2s.push(['admob', query]), { status: 200, body: { status: 'recorded' } }),
  network: async (network: string, query: string) => (
    seenS2s.push([network, query]),
    { status: 403, body: { error: 'unknown_network', message: '' } }
  ),
  postback: async (req: PostbackRequest) => (
    seenS2s.push(['postback', req.contentType, req.signature, Buffer.from(req.body).toString()]),
    { status: 503, body: { error: 'queue_full', message: '' }, retryAfterS: 2 } as BeaconResponse
  ),
};
let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

describe.each(Object.entries(servers))('%s server', (_name, create) => {
  async function start(
    handle: (req: BeaconRequest) => Promise<never> | Promise<{ status: number; body: Record<string, unknown> }>,
    ready = () => true,
  ) {
    const server = create(
      { host: '127.0.0.1', port: 0, maxBodyBytes: 1024, trustProxy: true },
      {
        collector: { handle },
        s2s: fakeS2s,
        origins: originsOf([{ app_id: 'app1', origin: 'https://shop.example' }]),
        ready,
        log: createLogger('t', 'silent'),
      },
    );
    const port = await server.listen();
    stop = () => server.stop();
    return `http://127.0.0.1:${port}`;
  }
  const post = (url: string, body: string) =>
    fetch(`${url}/v1/beacons`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.9, 10.0.0.1', 'user-agent': 'T/1' },
    });

  it('passes the body, headers and forwarded client IP to the collector and writes its answer', async () => {
    let seen: BeaconRequest | undefined;
    const url = await start(async (req) => {
      seen = req;
      return { status: 202, body: { accepted: 1, rejected: [] } };
    });
    const res = await post(url, '{"x":1}');
    expect([res.status, await res.json()]).toEqual([202, { accepted: 1, rejected: [] }]);
    expect(seen).toMatchObject({ contentType: 'application/json', ip: '203.0.113.9', userAgent: 'T/1' });
    expect(Buffer.from(seen!.body).toString()).toBe('{"x":1}');
  });

  it('answers the CORS preflight of a registered origin, and lets its page read every answer', async () => {
    let seen: BeaconRequest | undefined;
    const url = await start(async (req) => {
      seen = req;
      return { status: 429, body: { error: 'app_rate_limited', message: '' }, retryAfterS: 3 } as BeaconResponse;
    });
    const preflight = (origin?: string) =>
      fetch(`${url}/v1/beacons`, {
        method: 'OPTIONS',
        headers: {
          ...(origin && { origin }),
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,beacon-signature',
        },
      });
    const ok = await preflight('https://shop.example');
    expect([ok.status, await ok.text(), Object.fromEntries(ok.headers)]).toEqual([
      204,
      '',
      expect.objectContaining({
        'access-control-allow-origin': 'https://shop.example',
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'Content-Type, Beacon-Signature',
        'access-control-max-age': '7200',
        vary: 'Origin',
      }),
    ]);
    const stranger = await preflight('https://copycat.example');
    expect([stranger.status, stranger.headers.get('access-control-allow-origin')]).toEqual([403, null]);
    expect(((await stranger.json()) as { error: string }).error).toBe('origin_not_allowed');
    expect([(await preflight()).status, (await preflight()).headers.get('allow')]).toEqual([204, 'POST, OPTIONS']);
    expect(
      (await fetch(`${url}/nope`, { method: 'OPTIONS', headers: { origin: 'https://shop.example' } })).status,
    ).toBe(404);

    const res = await fetch(`${url}/v1/beacons`, {
      method: 'POST',
      body: '{}',
      headers: { origin: 'https://shop.example' },
    });
    expect([res.status, res.headers.get('access-control-allow-origin'), res.headers.get('retry-after')]).toEqual([
      429,
      'https://shop.example',
      '3',
    ]);
    expect(res.headers.get('access-control-expose-headers')).toBe('Retry-After, Date');
    expect(seen?.origin).toBe('https://shop.example');
    const other = await fetch(`${url}/v1/beacons`, {
      method: 'POST',
      body: '{}',
      headers: { origin: 'https://copycat.example' },
    });
    expect([other.status, other.headers.get('access-control-allow-origin')]).toEqual([429, null]);
    expect(seen?.origin).toBe('https://copycat.example'); // the collector refuses it for its app (collector.test.ts)
  });

  it('answers 500 when the collector fails, and keeps serving', async () => {
    let calls = 0;
    const url = await start(async () => {
      if (calls++ === 0) throw new Error('bug');
      return { status: 202, body: { accepted: 0, rejected: [] } };
    });
    expect((await post(url, '{}')).status).toBe(500);
    expect((await post(url, '{}')).status).toBe(202);
  });

  it('routes the S2S endpoints with the raw query and the postback body and header, and writes Retry-After', async () => {
    seenS2s.length = 0;
    const url = await start(async () => ({ status: 202, body: {} }));
    const query = 'ad_unit=a%2Fb&custom_data=x+y&signature=MEU-_&key_id=3';
    const admob = await fetch(`${url}/v1/ssv/admob?${query}`);
    expect([admob.status, await admob.json()]).toEqual([200, { status: 'recorded' }]);
    expect((await fetch(`${url}/v1/ssv/pangle?app_id=a&signature=00`)).status).toBe(403);
    const postback = await fetch(`${url}/v1/postbacks`, {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json', 'postback-signature': 't=1,v1=ab' },
    });
    expect([postback.status, postback.headers.get('retry-after')]).toEqual([503, '2']);
    expect((await fetch(`${url}/v1/postbacks`, { method: 'POST', body: 'x'.repeat(2048) })).status).toBe(413);
    expect((await fetch(`${url}/v1/ssv/admob?${query}`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${url}/v1/postbacks`)).status).toBe(404);
    expect(seenS2s).toEqual([
      ['admob', query],
      ['pangle', 'app_id=a&signature=00'],
      ['postback', 'application/json', 't=1,v1=ab', '{"a":1}'],
    ]);
  });

  it('answers 413 for a body over the limit and 404 elsewhere', async () => {
    const url = await start(async () => ({ status: 202, body: {} }));
    expect((await post(url, 'x'.repeat(2048))).status).toBe(413);
    const page = await fetch(`${url}/v1/beacons`, {
      method: 'POST',
      body: 'x'.repeat(2048),
      headers: { origin: 'https://shop.example' },
    });
    // a registered page can read it, so its SDK splits the batch rather than taking it for a network error
    expect([page.status, page.headers.get('access-control-allow-origin')]).toEqual([413, 'https://shop.example']);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('serves /healthz and /readyz to load balancers but never /metrics on the public port', async () => {
    let ready = true;
    const url = await start(
      async () => ({ status: 202, body: {} }),
      () => ready,
    );
    const status = async (path: string) => (await fetch(`${url}${path}`)).status;
    expect([await status('/healthz'), await status('/readyz'), await status('/readyz?probe=1')]).toEqual([
      200, 200, 200,
    ]);
    ready = false;
    expect(await status('/readyz')).toBe(503);
    expect([await status('/metrics'), await status('/metrics?x=1')]).toEqual([404, 404]);
  });
});

describe('uws server WebSocket', () => {
  it("sends acks in seq order, a slow frame's answer before a later frame's quick one", async () => {
    // Frame 0 waits (as on Kafka); frame 1 is answered at once; frame 2 is not a SignedBatch.
    const delays = [150, 0];
    const server = createUwsServer(
      { host: '127.0.0.1', port: 0, maxBodyBytes: 1024, trustProxy: false },
      {
        collector: {
          handle: async () => {
            await sleep(delays.shift() ?? 0);
            return { status: 202, body: { accepted: 1, rejected: [] } };
          },
        },
        s2s: fakeS2s,
        origins: originsOf([{ app_id: 'app1', origin: 'https://shop.example' }]),
        ready: () => true,
        log: createLogger('t', 'silent'),
      },
    );
    const port = await server.listen();
    stop = () => server.stop();
    const refused = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`, { origin: 'https://copycat.example' });
    expect(
      await new Promise((resolve) => refused.once('unexpected-response', (_req, res) => resolve(res.statusCode))),
    ).toBe(403); // a page of an origin no app registered
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`, { origin: 'https://shop.example' });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const acks: { seq: number; status: number }[] = [];
    ws.on('message', (data) => acks.push(JSON.parse(String(data))));
    const frame = beacon.v1.SignedBatch.encode({
      keyId: 'k',
      t: 1,
      signature: 's',
      batch: Buffer.from([0x0a, 0x01, 0x61]),
    }).finish();
    ws.send(frame);
    ws.send(frame);
    ws.send(Buffer.from('not a frame'));
    for (let i = 0; i < 100 && acks.length < 3; i++) await sleep(20);
    ws.close();
    expect(acks.map((a) => [a.seq, a.status])).toEqual([
      [0, 202],
      [1, 202],
      [2, 400],
    ]);
  });
});
