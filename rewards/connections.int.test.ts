// A socket flood against the real rewards API (issue 21): idle and slow-drip connections are cut off
// within the configured timeouts while ordinary requests are served, and connections beyond
// REWARDS_HTTP_MAX_CONNECTIONS are refused while those already open are still served.
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createRewardsWorld, type RewardsWorld } from './test-support.js';

let world: RewardsWorld | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await world?.stop();
  world = undefined;
});

interface Probe {
  socket: Socket;
  opened: number;
  closed: Promise<{ afterMs: number; reply: string }>;
}

/** A raw connection that writes `drip` one byte per `everyMs`, and reports when the server closes it and what it said. */
function open(port: number, drip = '', everyMs = 1_000): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    const opened = Date.now();
    let reply = '';
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (chunk) => (reply += chunk.toString()));
    socket.on('error', () => {}); // a reset is a close too
    const closed = new Promise<{ afterMs: number; reply: string }>((done) =>
      socket.on('close', () => {
        clearInterval(timer);
        done({ afterMs: Date.now() - opened, reply });
      }),
    );
    socket.once('connect', () => {
      let i = 0;
      if (drip) timer = setInterval(() => i < drip.length && socket.write(drip[i++]!), everyMs);
      resolve({ socket, opened, closed });
    });
    socket.once('error', reject);
  });
}

/** When the server closed the probe's socket, or afterMs Infinity when it had not within `ms`. */
const closedWithin = (probe: Probe, ms: number) =>
  Promise.race([probe.closed, sleep(ms).then(() => ({ afterMs: Infinity, reply: '(still open)' }))]);

/** One request on an open socket (keep-alive), and the status line of its answer. */
function ask(socket: Socket, path: string): Promise<string> {
  return new Promise((resolve) => {
    let reply = '';
    const onData = (chunk: Buffer) => {
      reply += chunk.toString();
      if (/\r\n\r\n/.test(reply)) {
        socket.off('data', onData);
        resolve(reply.split('\r\n', 1)[0]!);
      }
    };
    socket.on('data', onData);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

describe('rewards API connections', () => {
  it('closes idle and slow-drip sockets within the request timeout, and serves a normal request meanwhile', async () => {
    world = await createRewardsWorld();
    const requestTimeoutMs = 2_000;
    const s = await world.start({
      REWARDS_HTTP_REQUEST_TIMEOUT_MS: String(requestTimeoutMs),
      REWARDS_HTTP_KEEPALIVE_TIMEOUT_MS: '1000',
      REWARDS_HTTP_IDLE_TIMEOUT_MS: '5000',
    });
    const headers = `GET /v1/users/alice/balance HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${world.token('alice')}\r\n\r\n`;
    const body =
      'POST /v1/users/alice/wechat/link HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n';
    const idle = await Promise.all(Array.from({ length: 200 }, () => open(s.port)));
    const headerDrips = await Promise.all(Array.from({ length: 5 }, () => open(s.port, headers)));
    const bodyDrips = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const probe = await open(s.port);
        probe.socket.write(body); // headers at once, then the body one byte a second
        const timer = setInterval(() => probe.socket.write('{'), 1_000);
        void probe.closed.then(() => clearInterval(timer));
        return probe;
      }),
    );

    await sleep(500);
    const normal = await world.api(s.port, 'GET', '/v1/users/alice/balance', { token: world.token('alice') });
    expect(normal).toMatchObject({ status: 200, body: { available: 0 } });

    // Cut off by the request timeout (checked about every second), answered 408 where the socket still takes it.
    const limit = requestTimeoutMs + 1_500;
    for (const [kind, probes] of [
      ['idle', idle],
      ['header drip', headerDrips],
      ['body drip', bodyDrips],
    ] as const) {
      const closed = await Promise.all(probes.map((p) => closedWithin(p, limit + 1_000)));
      expect({ kind, late: closed.filter((c) => c.afterMs > limit).length }).toEqual({ kind, late: 0 });
      expect({ kind, answers: [...new Set(closed.map((c) => c.reply.split('\r\n', 1)[0]))] }).toEqual({
        kind,
        answers: ['HTTP/1.1 408 Request Timeout'],
      });
    }
    // A keep-alive connection left idle after its request is closed after the keep-alive timeout.
    const kept = await open(s.port);
    expect(await ask(kept.socket, '/healthz')).toBe('HTTP/1.1 200 OK');
    const afterAnswer = Date.now();
    await closedWithin(kept, 5_000);
    expect(Date.now() - afterAnswer).toBeLessThan(1_000 + 1_500);
    expect((await world.api(s.port, 'GET', '/healthz')).status).toBe(200);
  });

  it('refuses connections beyond REWARDS_HTTP_MAX_CONNECTIONS and still serves those it holds', async () => {
    world = await createRewardsWorld();
    const s = await world.start({ REWARDS_HTTP_MAX_CONNECTIONS: '5' });
    const held = await Promise.all(Array.from({ length: 5 }, () => open(s.port)));
    for (const h of held) expect(await ask(h.socket, '/healthz')).toBe('HTTP/1.1 200 OK');

    const extra = await open(s.port);
    expect((await closedWithin(extra, 2_000)).reply).toBe('');
    for (const h of held) expect(await ask(h.socket, '/readyz')).toMatch(/^HTTP\/1\.1 (200|503)/);

    held[0]!.socket.destroy();
    await closedWithin(held[0]!, 2_000);
    await sleep(100);
    expect(await ask((await open(s.port)).socket, '/healthz')).toBe('HTTP/1.1 200 OK');
  });
});
