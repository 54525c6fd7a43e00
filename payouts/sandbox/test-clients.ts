// Test support: a sandbox in this process on free ports, with fast time, and the real clients
// pointed at it (v3 over HTTP, v2 over HTTPS with the merchant certificate); raw calls for what the
// clients do not ask (another account's bill); and a callback receiver that verifies, as payouts does.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { silentLog } from '../../test/support.js';
import { loadCredentials } from '../wechat/credentials.js';
import { createTransport } from '../wechat/transport.js';
import { createV2Client } from '../wechat/v2-client.js';
import { signV2, toV2Xml } from '../wechat/v2-protocol.js';
import { createV3Client, type V3Client } from '../wechat/v3-client.js';
import { authorization } from '../wechat/v3-crypto.js';
import { sandboxMerchant } from './defaults.js';
import { startSandbox, type SandboxConfig } from './server.js';

export const sandboxCredentials = (dir = sandboxMerchant.certDir) => loadCredentials({
  certFile: join(dir, 'apiclient_cert.pem'), keyFile: join(dir, 'apiclient_key.pem'), platformCertFiles: [join(dir, 'platform_cert.pem')], caFile: join(dir, 'ca_cert.pem'), caReplacesRoots: true,
});

export async function startTestSandbox(overrides: Partial<SandboxConfig> = {}) {
  const sandbox = await startSandbox({
    host: '127.0.0.1', port: 0, tlsPort: 0, adminPort: 0, certDir: sandboxMerchant.certDir, seed: 'test-seed', appid: sandboxMerchant.appid, appSecret: 'secret',
    mchid: sandboxMerchant.mchid, apiV2Key: sandboxMerchant.apiV2Key, apiV3Key: sandboxMerchant.apiV3Key, signWith: 'platform',
    balanceFen: 1_000_000_00, userDailyLimitFen: 500_000, timeScale: 0.0001, stepMs: 30, autoConfirmMs: -1, ...overrides,
  }, { log: silentLog, now: Date.now });
  const creds = sandboxCredentials();
  const nowS = () => Math.floor(Date.now() / 1000);
  const http = createTransport({ baseUrl: `http://127.0.0.1:${sandbox.port}`, timeoutMs: 2_000, tls: {} });
  const https = createTransport({ baseUrl: `https://127.0.0.1:${sandbox.tlsPort}`, timeoutMs: 2_000, tls: creds.tls });
  const v3 = createV3Client({ mchid: sandboxMerchant.mchid, serial: creds.serial, privateKey: creds.privateKey, apiV3Key: sandboxMerchant.apiV3Key, platformKeys: creds.platformKeys, encryptSerial: creds.encryptSerial }, { transport: http, nowS });
  const v2 = createV2Client({ mchid: sandboxMerchant.mchid, appid: sandboxMerchant.appid, apiKey: sandboxMerchant.apiV2Key, signType: 'MD5', transferSignType: 'MD5' }, { transport: https });
  const admin = async (path: string, body?: unknown) =>
    (await fetch(`http://127.0.0.1:${sandbox.adminPort}/sandbox/${path}`, { method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : JSON.stringify(body) })).json() as Promise<Record<string, unknown>>;

  return {
    sandbox, creds, v3, v2, admin, nowS,
    /** v3 fund-flow bill of `account` on `day` (yyyy-MM-dd): the file, or WeChat's error code. */
    fundflow: (account: string, day: string) => readFundflow(sandbox.port, account, day),
    /** v2 downloadfundflow of `account` (Basic, Operation, Fees) on `day` (yyyyMMdd): the file, or the XML error. */
    async v2Fundflow(account: string, day: string): Promise<string> {
      const params = { mch_id: sandboxMerchant.mchid, appid: sandboxMerchant.appid, bill_date: day, account_type: account, nonce_str: 'n0nce', sign_type: 'HMAC-SHA256' };
      const xml = toV2Xml({ ...params, sign: signV2(params, sandboxMerchant.apiV2Key, 'HMAC-SHA256') });
      return (await https.send('POST', '/pay/downloadfundflow', { 'content-type': 'text/xml' }, xml)).body.toString('utf8');
    },
    stop: async () => {
      http.close();
      https.close();
      await sandbox.stop();
    },
  };
}

/** The v3 fund-flow bill of `account` on `day` (yyyy-MM-dd) from the sandbox on HTTP port `port`: the file, or WeChat's error code. */
export async function readFundflow(port: number, account: string, day: string): Promise<{ text: string } | { code: string }> {
  const creds = sandboxCredentials();
  const http = createTransport({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2_000, tls: {} });
  const signedGet = (path: string) => http.send('GET', path, {
    authorization: authorization({ mchid: sandboxMerchant.mchid, serial: creds.serial, privateKey: creds.privateKey }, { method: 'GET', path, body: '' }, { timestampS: Math.floor(Date.now() / 1000) }),
  });
  try {
    const meta = await signedGet(`/v3/bill/fundflowbill?bill_date=${day}&account_type=${account}`);
    const answer = JSON.parse(meta.body.toString('utf8')) as { code?: string; download_url?: string };
    if (meta.status !== 200) return { code: answer.code ?? `HTTP_${meta.status}` };
    const url = new URL(answer.download_url!);
    return { text: (await signedGet(`${url.pathname}${url.search}`)).body.toString('utf8') };
  } finally {
    http.close();
  }
}

/** A callback receiver that answers 200 only to what verifies (as the payouts service does); its URL is https, as WeChat requires. */
export async function startCallbackReceiver(v3: () => V3Client) {
  const received: { headers: Record<string, string | undefined>; body: string; answered: number }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
      const answered = 'error' in v3().readNotification(headers, body) ? 401 : 200;
      received.push({ headers, body, answered });
      res.writeHead(answered).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    received, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/wechat/notify`,
    /** The decrypted resources of verified callbacks, with their event types. */
    events: () => received.filter((r) => r.answered === 200).map((r) => {
      const read = v3().readNotification(r.headers, r.body) as { notification: { event_type: string }; resource: Record<string, unknown> };
      return { type: read.notification.event_type, ...read.resource };
    }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
