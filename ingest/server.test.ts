import client from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../common/log.js';
import type { BeaconRequest } from './collector.js';
import { createNodeServer } from './server-node.js';
import { createUwsServer } from './server-uws.js';

const servers = { uws: createUwsServer, node: createNodeServer };
let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  stop = undefined;
});

describe.each(Object.entries(servers))('%s server', (_name, create) => {
  async function start(handle: (req: BeaconRequest) => Promise<never> | Promise<{ status: number; body: Record<string, unknown> }>) {
    const server = create({ host: '127.0.0.1', port: 0, maxBodyBytes: 1024, trustProxy: true }, {
      collector: { handle }, registry: new client.Registry(), ready: () => true, log: createLogger('t', 'silent'),
    });
    const port = await server.listen();
    stop = () => server.stop();
    return `http://127.0.0.1:${port}`;
  }
  const post = (url: string, body: string) => fetch(`${url}/v1/beacons`, {
    method: 'POST', body, headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.9, 10.0.0.1', 'user-agent': 'T/1' },
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

  it('answers 500 when the collector fails, and keeps serving', async () => {
    let calls = 0;
    const url = await start(async () => {
      if (calls++ === 0) throw new Error('bug');
      return { status: 202, body: { accepted: 0, rejected: [] } };
    });
    expect((await post(url, '{}')).status).toBe(500);
    expect((await post(url, '{}')).status).toBe(202);
  });

  it('answers 413 for a body over the limit and 404 elsewhere', async () => {
    const url = await start(async () => ({ status: 202, body: {} }));
    expect((await post(url, 'x'.repeat(2048))).status).toBe(413);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });
});
