// Test support: a sandbox in this process on free ports, with fast time, and the real clients
// pointed at it (v3 over HTTP, v2 over HTTPS with the merchant certificate, MD5 and HMAC-SHA256); raw
// calls for what the clients do not ask (another account's bill, a field left out, a bad sign); and
// callback receivers that verify, as payouts does (v3 JSON; v2 XML, answering FAIL when told).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { silentLog } from '../../test/support.js';
import { loadCredentials } from '../wechat/credentials.js';
import { createTransport } from '../wechat/transport.js';
import { createV2Client } from '../wechat/v2-client.js';
import { parseV2Xml, signV2, toV2Xml, type V2SignType } from '../wechat/v2-protocol.js';
import { createV3Client, type V3Client } from '../wechat/v3-client.js';
import { authorization } from '../wechat/v3-crypto.js';
import { sandboxMerchant } from './defaults.js';
import { startSandbox, type SandboxConfig } from './server.js';

export const sandboxCredentials = (dir = sandboxMerchant.certDir) =>
  loadCredentials({
    certFile: join(dir, 'apiclient_cert.pem'),
    keyFile: join(dir, 'apiclient_key.pem'),
    platformCertFiles: [join(dir, 'platform_cert.pem')],
    caFile: join(dir, 'ca_cert.pem'),
    caReplacesRoots: true,
  });

export async function startTestSandbox(overrides: Partial<SandboxConfig> = {}) {
  const sandbox = await startSandbox(
    {
      host: '127.0.0.1',
      port: 0,
      tlsPort: 0,
      adminPort: 0,
      certDir: sandboxMerchant.certDir,
      seed: 'test-seed',
      appid: sandboxMerchant.appid,
      appSecret: 'secret',
      mchid: sandboxMerchant.mchid,
      apiV2Key: sandboxMerchant.apiV2Key,
      apiV3Key: sandboxMerchant.apiV3Key,
      signWith: 'platform',
      balanceFen: 1_000_000_00,
      userDailyLimitFen: 500_000,
      timeScale: 0.0001,
      stepMs: 30,
      autoConfirmMs: -1,
      ...overrides,
    },
    { log: silentLog, now: Date.now },
  );
  const creds = sandboxCredentials();
  const nowS = () => Math.floor(Date.now() / 1000);
  const http = createTransport({ baseUrl: `http://127.0.0.1:${sandbox.port}`, timeoutMs: 2_000, tls: {} });
  const https = createTransport({ baseUrl: `https://127.0.0.1:${sandbox.tlsPort}`, timeoutMs: 2_000, tls: creds.tls });
  const v3 = createV3Client(
    {
      mchid: sandboxMerchant.mchid,
      serial: creds.serial,
      privateKey: creds.privateKey,
      apiV3Key: sandboxMerchant.apiV3Key,
      platformKeys: creds.platformKeys,
      encryptSerial: creds.encryptSerial,
    },
    { transport: http, nowS },
  );
  const v2 = createV2Client(
    {
      mchid: sandboxMerchant.mchid,
      appid: sandboxMerchant.appid,
      apiKey: sandboxMerchant.apiV2Key,
      signType: 'MD5',
      transferSignType: 'MD5',
    },
    { transport: https },
  );
  const v2Hmac = createV2Client(
    {
      mchid: sandboxMerchant.mchid,
      appid: sandboxMerchant.appid,
      apiKey: sandboxMerchant.apiV2Key,
      signType: 'HMAC-SHA256',
      transferSignType: 'MD5',
    },
    { transport: https },
  );
  const admin = async (path: string, body?: unknown) =>
    (
      await fetch(`http://127.0.0.1:${sandbox.adminPort}/sandbox/${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        body: body === undefined ? undefined : JSON.stringify(body),
      })
    ).json() as Promise<Record<string, unknown>>;

  return {
    sandbox,
    creds,
    v3,
    v2,
    v2Hmac,
    admin,
    nowS,
    /** v3 fund-flow bill of `account` on `day` (yyyy-MM-dd): the file, or WeChat's error code. */
    fundflow: (account: string, day: string) => readFundflow(sandbox.port, account, day),
    /** v3 trade bill of `day` (yyyy-MM-dd): the file (gunzipped, with the SHA1 it was announced with), or WeChat's error code. */
    tradeBill: (day: string, type = 'ALL', tarType?: string) =>
      readBill(
        sandbox.port,
        `/v3/bill/tradebill?bill_date=${day}&bill_type=${type}${tarType ? `&tar_type=${tarType}` : ''}`,
      ),
    /** A signed v3 call the clients do not make (a query without mchid, say): its status, JSON body and headers. */
    async v3Raw(method: 'GET' | 'POST', path: string, body?: unknown) {
      const text = body === undefined ? '' : JSON.stringify(body);
      const answer = await http.send(
        method,
        path,
        {
          'content-type': 'application/json',
          authorization: authorization(
            { mchid: sandboxMerchant.mchid, serial: creds.serial, privateKey: creds.privateKey },
            { method, path, body: text },
            { timestampS: nowS() },
          ),
        },
        text,
      );
      const raw = answer.body.toString('utf8');
      return {
        status: answer.status,
        body: (raw ? JSON.parse(raw) : {}) as Record<string, unknown>,
        headers: answer.headers,
      };
    },
    /**
     * A v2 call of `params` (mch_id and appid added unless given) signed with `signType` (sign_type sent
     * when HMAC), over HTTPS with the merchant certificate, or plain HTTP without one (`certified: false`).
     */
    async v2Raw(
      path: string,
      params: Record<string, string | number | undefined>,
      opts: { signType?: V2SignType; certified?: boolean; key?: string } = {},
    ) {
      const type = opts.signType ?? 'MD5';
      const all = {
        mch_id: sandboxMerchant.mchid,
        appid: sandboxMerchant.appid,
        nonce_str: `n${Date.now()}`,
        ...params,
        ...(type === 'MD5' ? {} : { sign_type: type }),
      };
      const xml = toV2Xml({ ...all, sign: signV2(all, opts.key ?? sandboxMerchant.apiV2Key, type) });
      const answer = await (opts.certified === false ? http : https).send(
        'POST',
        path,
        { 'content-type': 'text/xml' },
        xml,
      );
      const text = answer.body.toString('utf8');
      return { text, body: answer.body, fields: parseV2Xml(text) ?? {} };
    },
    /** v2 downloadfundflow of `account` (Basic, Operation, Fees) on `day` (yyyyMMdd): the file, or the XML error. */
    async v2Fundflow(account: string, day: string): Promise<string> {
      const params = {
        mch_id: sandboxMerchant.mchid,
        appid: sandboxMerchant.appid,
        bill_date: day,
        account_type: account,
        nonce_str: 'n0nce',
        sign_type: 'HMAC-SHA256',
      };
      const xml = toV2Xml({ ...params, sign: signV2(params, sandboxMerchant.apiV2Key, 'HMAC-SHA256') });
      return (await https.send('POST', '/pay/downloadfundflow', { 'content-type': 'text/xml' }, xml)).body.toString(
        'utf8',
      );
    },
    stop: async () => {
      http.close();
      https.close();
      await sandbox.stop();
    },
  };
}

/** The v3 fund-flow bill of `account` on `day` (yyyy-MM-dd) from the sandbox on HTTP port `port`: the file, or WeChat's error code. */
export const readFundflow = (port: number, account: string, day: string) =>
  readBill(port, `/v3/bill/fundflowbill?bill_date=${day}&account_type=${account}`);

/** A v3 bill (`path` with its query): the file, gunzipped when it came gzipped, and the SHA1 announced for it; or WeChat's error code. */
export async function readBill(
  port: number,
  path: string,
): Promise<{ text: string; sha1: string; gzipped: boolean } | { code: string }> {
  const creds = sandboxCredentials();
  const http = createTransport({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2_000, tls: {} });
  const signedGet = (p: string) =>
    http.send('GET', p, {
      authorization: authorization(
        { mchid: sandboxMerchant.mchid, serial: creds.serial, privateKey: creds.privateKey },
        { method: 'GET', path: p, body: '' },
        { timestampS: Math.floor(Date.now() / 1000) },
      ),
    });
  try {
    const meta = await signedGet(path);
    const answer = JSON.parse(meta.body.toString('utf8')) as {
      code?: string;
      download_url?: string;
      hash_value?: string;
    };
    if (meta.status !== 200) return { code: answer.code ?? `HTTP_${meta.status}` };
    const url = new URL(answer.download_url!);
    const file = (await signedGet(`${url.pathname}${url.search}`)).body;
    const gzipped = file[0] === 0x1f && file[1] === 0x8b;
    return { text: (gzipped ? gunzipSync(file) : file).toString('utf8'), sha1: answer.hash_value!, gzipped };
  } finally {
    http.close();
  }
}

/**
 * A receiver of APIv2 notifications (XML): it keeps each body's fields and answers return_code FAIL
 * to the first `failFirst`, then SUCCESS, as a merchant that recorded it does.
 */
export async function startV2Receiver(opts: { failFirst?: number } = {}) {
  const received: Record<string, string>[] = [];
  let fails = opts.failFirst ?? 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req
      .on('data', (c: Buffer) => chunks.push(c))
      .on('end', () => {
        received.push(parseV2Xml(Buffer.concat(chunks).toString('utf8')) ?? {});
        const ok = fails-- <= 0;
        res
          .writeHead(200, { 'content-type': 'text/xml' })
          .end(toV2Xml({ return_code: ok ? 'SUCCESS' : 'FAIL', return_msg: ok ? 'OK' : 'not yet' }));
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    received,
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/wechat/notify/v2`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A callback receiver that answers 200 only to what verifies (as the payouts service does); its URL is https, as WeChat requires. */
export async function startCallbackReceiver(v3: () => V3Client) {
  const received: { headers: Record<string, string | undefined>; body: string; answered: number }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req
      .on('data', (c: Buffer) => chunks.push(c))
      .on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = Object.fromEntries(
          Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]),
        );
        const answered = 'error' in v3().readNotification(headers, body) ? 401 : 200;
        received.push({ headers, body, answered });
        res.writeHead(answered).end();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    received,
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/wechat/notify`,
    /** The decrypted resources of verified callbacks, with their event types. */
    events: () =>
      received
        .filter((r) => r.answered === 200)
        .map((r) => {
          const read = v3().readNotification(r.headers, r.body) as {
            notification: { event_type: string };
            resource: Record<string, unknown>;
          };
          return { type: read.notification.event_type, ...read.resource };
        }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
