// Test support: a sandbox in this process on free ports, with fast time, and the real clients
// pointed at it (v3 over HTTP, v2 over HTTPS with the merchant certificate).
import { join } from 'node:path';
import { silentLog } from '../../test/support.js';
import { loadCredentials } from '../wechat/credentials.js';
import { createTransport } from '../wechat/transport.js';
import { createV2Client } from '../wechat/v2-client.js';
import { createV3Client } from '../wechat/v3-client.js';
import { sandboxMerchant } from './defaults.js';
import { startSandbox, type SandboxConfig } from './server.js';

export const sandboxCredentials = (dir = sandboxMerchant.certDir) => loadCredentials({
  certFile: join(dir, 'apiclient_cert.pem'), keyFile: join(dir, 'apiclient_key.pem'), platformCertFiles: [join(dir, 'platform_cert.pem')], caFile: join(dir, 'ca_cert.pem'),
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
  const v2 = createV2Client({ mchid: sandboxMerchant.mchid, appid: sandboxMerchant.appid, apiKey: sandboxMerchant.apiV2Key, signType: 'HMAC-SHA256' }, { transport: https });
  const admin = async (path: string, body?: unknown) =>
    (await fetch(`http://127.0.0.1:${sandbox.adminPort}/sandbox/${path}`, { method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : JSON.stringify(body) })).json() as Promise<Record<string, unknown>>;
  return {
    sandbox, creds, v3, v2, admin, nowS,
    stop: async () => {
      http.close();
      https.close();
      await sandbox.stop();
    },
  };
}
