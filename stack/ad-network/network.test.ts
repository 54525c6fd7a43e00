// The simulator against a local HTTP receiver standing in for the collector: every callback checked
// with node:crypto by CONTRACTS.md §7 (not by the collector's code), and the plans' delays, copies,
// drops and retries as a network's would be.
import { createHmac, createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.js';
import { parseVerifierKeys } from '../../ingest/admob-keys.js';
import { verifyAdmob } from '../../ingest/admob-verify.js';
import { ensureAdmobKey, type AdmobKey } from './keys.js';
import { createAdNetwork, type AdNetwork } from './network.js';
import { startAdNetworkServer } from './server.js';

interface Received {
  at: number;
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | undefined>;
  body: string;
}
let receiver: Server;
let collectorUrl = '';
let received: Received[] = [];
/** The statuses the receiver answers, in order; 200 once used up (or 'hang' to never answer). */
let script: (number | 'hang')[] = [];
let dir = '';
let key: AdmobKey;
const event = '3f2a4b5c-6d7e-4f80-9a1b-2c3d4e5f6a7b';
const log = createLogger('test', 'silent');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'adnet-test-'));
  key = ensureAdmobKey(dir);
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req
      .on('data', (c: Buffer) => chunks.push(c))
      .on('end', () => {
        const url = req.url ?? '';
        const q = url.indexOf('?');
        received.push({
          at: Date.now(),
          method: req.method ?? '',
          path: q < 0 ? url : url.slice(0, q),
          query: q < 0 ? '' : url.slice(q + 1),
          headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v])),
          body: Buffer.concat(chunks).toString('utf8'),
        });
        const next = script.shift() ?? 200;
        if (next !== 'hang') res.writeHead(next, { 'content-type': 'application/json' }).end('{}');
      });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  collectorUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(() => {
  receiver.closeAllConnections();
  receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

let network: AdNetwork | undefined;
afterEach(async () => {
  await network?.stop();
  network = undefined;
  received = [];
  script = [];
});

const secrets = {
  networks: [{ network: 'pangle', app_id: 'app.one', secret: 'network-secret-1' }],
  campaigns: [{ campaign_id: 'c1', secret: 'postback-secret-1' }],
};
function start(retry: Partial<{ maxAttempts: number; baseDelayMs: number; timeoutMs: number }> = {}) {
  network = createAdNetwork(
    {
      collectorUrl,
      admob: key,
      secrets,
      retry: { maxAttempts: 5, baseDelayMs: 20, maxDelayMs: 200, timeoutMs: 2_000, ...retry },
    },
    { fetch, now: Date.now, log },
  );
  return network;
}
const admob = (extra: Record<string, unknown> = {}) => ({
  network: 'admob',
  ad_unit: 'unit-1',
  user_id: 'u1',
  custom_data: event,
  reward_amount: 25,
  reward_item: 'coins',
  ...extra,
});
const params = (query: string) => new URLSearchParams(query.slice(0, query.indexOf('&signature=')));

/** An AdMob callback checked as Google documents it: ECDSA P-256 SHA-256 over the query up to &signature=, key from the verifier list. */
function admobVerifies(query: string): boolean {
  const at = query.indexOf('&signature=');
  const trailer = new URLSearchParams(query.slice(at + 1));
  const list = JSON.parse(readFileSync(key.verifierFile, 'utf8')) as {
    keys: { keyId: number; pem: string; base64: string }[];
  };
  const entry = list.keys.find((k) => String(k.keyId) === trailer.get('key_id'));
  if (!entry) return false;
  const fromPem = createPublicKey(entry.pem);
  const fromBase64 = createPublicKey({ key: Buffer.from(entry.base64, 'base64'), format: 'der', type: 'spki' });
  const sig = Buffer.from(trailer.get('signature')!, 'base64url');
  return [fromPem, fromBase64].every((k) =>
    verify('sha256', Buffer.from(query.slice(0, at)), { key: k, dsaEncoding: 'der' }, sig),
  );
}

describe('the AdMob key', () => {
  it("is generated once, private key readable by its owner only, and listed in Google's verifier-key format", () => {
    const again = ensureAdmobKey(dir);
    expect(again.keyId).toBe(key.keyId);
    expect(statSync(join(dir, 'admob-private-key.pem')).mode & 0o777).toBe(0o600);
    const list = JSON.parse(readFileSync(key.verifierFile, 'utf8')) as {
      keys: { keyId: unknown; pem: string; base64: string }[];
    };
    expect(list.keys).toHaveLength(1);
    expect(list.keys[0]).toMatchObject({
      keyId: key.keyId,
      pem: expect.stringMatching(/^-----BEGIN PUBLIC KEY-----\n/),
      base64: expect.stringMatching(/^[A-Za-z0-9+/]+=*$/),
    });
    expect(key.verifierUrl).toBe(`file://${key.verifierFile}`);
  });
});

describe('the ad-network simulator', () => {
  it("sends an AdMob callback with AdMob's fields that verifies with the published verifier key", async () => {
    const n = start();
    const answer = n.rewarded(admob());
    expect(answer).toMatchObject({ ok: true, transaction_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    await n.idle();
    expect(received).toHaveLength(1);
    const [r] = received;
    expect(r).toMatchObject({ method: 'GET', path: '/v1/ssv/admob' });
    expect(admobVerifies(r!.query)).toBe(true);
    expect(admobVerifies(r!.query.replace('user_id=u1', 'user_id=u2'))).toBe(false);
    expect(Object.fromEntries(params(r!.query))).toMatchObject({
      ad_unit: 'unit-1',
      custom_data: event,
      reward_amount: '25',
      reward_item: 'coins',
      transaction_id: (answer as { transaction_id: string }).transaction_id,
      user_id: 'u1',
      timestamp: expect.stringMatching(/^\d{13}$/),
      ad_network: expect.any(String),
    });
  });

  it("sends AdMob callbacks the collector's verifier accepts, with the key list read from the file", async () => {
    const n = start();
    n.rewarded(admob({ user_id: 'user with spaces, symbols/é' }));
    await n.idle();
    const keys = parseVerifierKeys(readFileSync(key.verifierFile, 'utf8'));
    const got = await verifyAdmob(received[0]!.query, {
      keys: { get: async (id) => (keys.has(id) ? { ok: true, key: keys.get(id)! } : { ok: false, why: 'unknown' }) },
      adUnit: (u) => (u === 'unit-1' ? { appId: 'app.one', campaignId: 'c1' } : undefined),
    });
    expect(got).toMatchObject({
      ok: true,
      value: {
        appId: 'app.one',
        campaignId: 'c1',
        userId: 'user with spaces, symbols/é',
        eventId: event,
        rewardAmount: 25,
      },
    });
  });

  it("sends an HMAC network callback signed with that network's secret for the app, naming its ad unit", async () => {
    const n = start();
    expect(
      n.rewarded({ network: 'pangle', app_id: 'app.one', ad_unit: 'one.rewarded', user_id: 'u1', custom_data: event }),
    ).toMatchObject({ ok: true });
    await n.idle();
    const [r] = received;
    expect(r).toMatchObject({ method: 'GET', path: '/v1/ssv/pangle' });
    const at = r!.query.indexOf('&signature=');
    expect(r!.query.slice(at + '&signature='.length)).toBe(
      createHmac('sha256', 'network-secret-1').update(r!.query.slice(0, at)).digest('hex'),
    );
    expect(Object.fromEntries(params(r!.query))).toMatchObject({
      app_id: 'app.one',
      ad_unit: 'one.rewarded',
      user_id: 'u1',
      custom_data: event,
      transaction_id: expect.any(String),
      timestamp: expect.any(String),
    });
  });

  it("sends a postback signed with the campaign's secret over t.body, signed again at each retry", async () => {
    const n = start();
    script = [503];
    expect(
      n.conversion({
        campaign_id: 'c1',
        click_id: 'click-1',
        user_id: 'u1',
        value_micros: 1_000_000,
        currency: 'CNY',
        occurred_at: 1_700_000_000_000,
      }),
    ).toEqual({ ok: true, transaction_id: 'c1:click-1' });
    await n.idle();
    expect(received).toHaveLength(2);
    for (const r of received) {
      expect(r).toMatchObject({ method: 'POST', path: '/v1/postbacks' });
      expect(JSON.parse(r.body)).toEqual({
        campaign_id: 'c1',
        click_id: 'click-1',
        user_id: 'u1',
        value_micros: 1_000_000,
        currency: 'CNY',
        occurred_at: 1_700_000_000_000,
      });
      const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(r.headers['postback-signature']!)!;
      expect(Math.abs(Number(t) - r.at)).toBeLessThan(1_000);
      expect(v1).toBe(createHmac('sha256', 'postback-secret-1').update(`${t}.${r.body}`).digest('hex'));
    }
  });

  it.each([
    { plan: { copies: 3 }, sent: 3, duplicated: 2, dropped: 0 },
    { plan: { drop: true }, sent: 0, duplicated: 0, dropped: 1 },
    { plan: {}, sent: 1, duplicated: 0, dropped: 0 },
  ])('follows the plan $plan: the same signed callback $sent time(s)', async ({ plan, sent, duplicated, dropped }) => {
    const n = start();
    n.rewarded(admob({ plan }));
    await n.idle();
    expect(received).toHaveLength(sent);
    expect(new Set(received.map((r) => r.query)).size).toBe(Math.min(sent, 1));
    expect(n.stats()).toMatchObject({
      callbacks: 1,
      sent,
      duplicated,
      dropped,
      delivered: sent,
      failed: 0,
      pending: 0,
    });
  });

  it('sends a late callback after its delay', async () => {
    const n = start();
    const t0 = Date.now();
    n.rewarded(admob({ plan: { delayMs: 300 } }));
    expect(n.stats().pending).toBe(1);
    await n.idle();
    expect(received[0]!.at - t0).toBeGreaterThanOrEqual(290);
  });

  it('retries a 5xx, a 429 and an unanswered request, with the same URL, until it is answered 200', async () => {
    const n = start({ timeoutMs: 300 });
    script = [503, 'hang', 429, 500];
    n.rewarded(admob());
    await n.idle();
    expect(received).toHaveLength(5);
    expect(new Set(received.map((r) => r.query)).size).toBe(1);
    expect(n.stats()).toMatchObject({ sent: 1, delivered: 1, retries: 4, failed: 0, byStatus: { 200: 1 } });
  });

  it.each([
    { script: [401], attempts: 1, status: '401' },
    { script: [503, 503, 503, 503, 503], attempts: 5, status: '503' },
  ])('gives up after $attempts attempt(s) when answered $status', async ({ script: s, attempts, status }) => {
    const n = start();
    script = [...s];
    n.rewarded(admob());
    await n.idle();
    expect(received).toHaveLength(attempts);
    expect(n.stats()).toMatchObject({ sent: 1, delivered: 0, failed: 1, byStatus: { [status]: 1 } });
  });

  it.each([
    [
      'a network with no secret for the app',
      (n: AdNetwork) =>
        n.rewarded({
          network: 'pangle',
          app_id: 'app.two',
          ad_unit: 'two.rewarded',
          user_id: 'u1',
          custom_data: event,
        }),
      422,
    ],
    [
      'an HMAC network reward without an ad unit',
      (n: AdNetwork) => n.rewarded({ network: 'pangle', app_id: 'app.one', user_id: 'u1', custom_data: event }),
      400,
    ],
    [
      'a campaign with no postback secret',
      (n: AdNetwork) => n.conversion({ campaign_id: 'c2', event_id: event, user_id: 'u1', occurred_at: 1 }),
      422,
    ],
    [
      'an AdMob reward without an ad unit',
      (n: AdNetwork) => n.rewarded({ network: 'admob', user_id: 'u1', custom_data: event }),
      400,
    ],
    [
      'a postback naming both an event and a click',
      (n: AdNetwork) =>
        n.conversion({ campaign_id: 'c1', event_id: event, click_id: 'x', user_id: 'u1', occurred_at: 1 }),
      400,
    ],
  ])('refuses %s and sends nothing', async (_, ask, status) => {
    const n = start();
    expect(ask(n)).toMatchObject({ ok: false, status });
    await n.idle();
    expect(received).toHaveLength(0);
  });

  it('learns secrets it is told and sends with them', async () => {
    const n = start();
    expect(n.setSecrets({ networks: [{ network: 'pangle', app_id: 'app.two', secret: 's2' }] })).toEqual({ ok: true });
    n.rewarded({ network: 'pangle', app_id: 'app.two', ad_unit: 'two.rewarded', user_id: 'u1', custom_data: event });
    await n.idle();
    const q = received[0]!.query;
    const at = q.indexOf('&signature=');
    expect(q.slice(at + 11)).toBe(createHmac('sha256', 's2').update(q.slice(0, at)).digest('hex'));
  });

  it('serves its routes over HTTP on loopback', async () => {
    const server = await startAdNetworkServer({ port: 0 }, start());
    try {
      const post = (path: string, body: unknown) =>
        fetch(`${server.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
      expect((await post('/v1/rewarded', admob())).status).toBe(202);
      expect(
        (await post('/v1/conversions', { campaign_id: 'c1', event_id: event, user_id: 'u1', occurred_at: 1 })).status,
      ).toBe(202);
      expect((await post('/v1/admin/secrets', { campaigns: [{ campaign_id: 'c3', secret: 'x' }] })).status).toBe(200);
      expect((await fetch(`${server.url}/v1/rewarded`, { method: 'POST', body: '{' })).status).toBe(400);
      expect((await fetch(`${server.url}/nope`)).status).toBe(404);
      await network!.idle();
      expect(await (await fetch(`${server.url}/v1/stats`)).json()).toMatchObject({
        callbacks: 2,
        delivered: 2,
        pending: 0,
      });
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      await server.stop();
      network = undefined;
    }
  });
});
