// The WeChat Pay sandbox's servers (a separate process; never mistaken for production: every answer
// carries `x-sandbox: wechatpay`). The same routes are served over HTTP and over HTTPS; the HTTPS
// listener asks for a client certificate, which the APIv2 transfer and refund endpoints require, as
// WeChat's do. Admin routes under /sandbox/ (admin.ts) set faults, products and the clock, stand in
// for the user's confirm tap and the payer, and show state; they are served only on their own
// listener, on loopback (adminPort), never on the public ports.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../common/log.js';
import { toV2Xml } from '../wechat/v2-protocol.js';
import { createAdmin } from './admin.js';
import { createBatchesSandbox } from './batches.js';
import { createBillsSandbox } from './bills.js';
import { createNotifier } from './callbacks.js';
import { ensureSandboxCerts, sandboxPublicKeyId, serialOf } from './certs.js';
import { openJournal } from './journal.js';
import { createMerchant, products, type Product } from './merchant.js';
import { createOAuthSandbox } from './oauth.js';
import { createPayInSandbox } from './pay-in.js';
import { createPayInV2Sandbox } from './pay-in-v2.js';
import { createTrades } from './trades.js';
import { createClock, createTimers } from './timers.js';
import { createAuthorizationsSandbox } from './authorizations.js';
import { createTransferBillsSandbox, type TransferBillsConfig } from './transfer-bills.js';
import { createV2Sandbox } from './v2-transfers.js';
import { certificateList, checkV3Request, signedHeaders, v3Error, type SandboxKeys, type V3Reply } from './v3-auth.js';

export interface SandboxConfig {
  host: string;
  port: number;
  tlsPort: number;
  certDir: string;
  seed: string;
  /** The admin listener's port (127.0.0.1 only; 0 picks a free one). */
  adminPort: number;
  appid: string;
  appSecret: string;
  mchid: string;
  apiV2Key: string;
  apiV3Key: string;
  signWith: 'platform' | 'public_key';
  balanceFen: number;
  userDailyLimitFen: number;
  /** Real durations are multiplied by this (1 = real time); the batch step, callback retries and bill expiry follow it. */
  timeScale: number;
  stepMs: number;
  autoConfirmMs: number;
  autoConfirmShare?: number;
  /** Transfer bills: the state an unconfirmed one closes in, and when the operating account is debited. */
  billCloseState?: TransferBillsConfig['closeState'];
  billDebitAt?: TransferBillsConfig['debitAt'];
  /** The transfer products the merchant has; the others answer NO_AUTH. All three when absent. */
  products?: Product[];
  /** The journal (sandbox/journal.ts); none when empty or absent. */
  journalFile?: string;
  /** The trade bill's fee (手续费) as a share of each payment and refund: 0.006 (0.60%) when absent. */
  feeRate?: number;
}

export function loadSandboxKeys(
  dir: string,
  mchid: string,
  signWith: SandboxKeys['signWith'],
): SandboxKeys & { tls: { key: Buffer; cert: Buffer; ca: Buffer } } {
  const file = (name: string) => readFileSync(join(ensureSandboxCerts(dir, mchid), name));
  const platformCert = file('platform_cert.pem');
  return {
    mchid,
    signWith,
    merchantCert: new X509Certificate(file('apiclient_cert.pem')),
    platform: (() => {
      const cert = new X509Certificate(platformCert);
      return {
        serial: serialOf(platformCert),
        privateKey: createPrivateKey(file('platform_key.pem')),
        publicKey: cert.publicKey,
        certPem: platformCert.toString('utf8'),
        validFrom: cert.validFrom,
        validTo: cert.validTo,
      };
    })(),
    publicKey: {
      id: sandboxPublicKeyId,
      privateKey: createPrivateKey(file('pubkey_key.pem')),
      publicKey: createPublicKey(file('pubkey.pem')),
    },
    tls: { key: file('server_key.pem'), cert: file('server_cert.pem'), ca: file('ca_cert.pem') },
  };
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req
      .on('data', (c: Buffer) => chunks.push(c))
      .on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
      .on('error', reject);
  });

/** The product a route belongs to: a merchant without it gets NO_AUTH. */
const productOf = (path: string): Product | undefined =>
  path.startsWith('/v3/transfer/batches')
    ? 'v3_batch'
    : path.startsWith('/v3/fund-app/mch-transfer/')
      ? 'v3_bill'
      : path.startsWith('/mmpaymkttransfers/')
        ? 'v2_transfer'
        : undefined;
const NO_AUTH: Record<Product, string> = {
  v3_batch: '当前商户号接入升级版本功能,暂不支持使用升级前功能,请在产品中心-商家转账-前往功能查看接口文档',
  v3_bill: '商户号未开通商家转账权限,请在产品中心开通',
  v2_transfer: '产品权限验证失败,请查看您当前是否具有该产品的权限',
};

const V2_SYSTEM_ERROR = toV2Xml({
  return_code: 'FAIL',
  return_msg: '系统繁忙',
  result_code: 'FAIL',
  err_code: 'SYSTEMERROR',
  err_code_des: '系统繁忙,请稍后再试',
});
/** Routes whose answers the create-time faults apply to: payouts (NOT_ENOUGH too), and pay-in orders and refunds. */
const payoutCreates = new Set([
  'POST /v3/transfer/batches',
  'POST /v3/fund-app/mch-transfer/transfer-bills',
  'POST /v3/fund-app/mch-transfer/transfer-bills/transfer',
  'POST /mmpaymkttransfers/promotion/transfers',
]);
const creates = new Set([
  ...payoutCreates,
  'POST /v3/pay/transactions/native',
  'POST /v3/pay/transactions/jsapi',
  'POST /v3/refund/domestic/refunds',
  'POST /pay/unifiedorder',
  'POST /secapi/pay/refund',
]);

export async function startSandbox(config: SandboxConfig, deps: { log: Logger; now(): number }) {
  const log = deps.log.child({ mod: 'sandbox' });
  const keys = loadSandboxKeys(config.certDir, config.mchid, config.signWith);
  const timers = createTimers();
  const journal = openJournal(config.journalFile);
  // Money and bill states follow the business clock, which a test may move; signatures keep real time.
  const clock = createClock(deps.now);
  const merchant = createMerchant(
    { ...config, products: config.products ?? [...products] },
    { journal, now: clock.now },
  );
  const notifier = createNotifier(
    { apiV3Key: config.apiV3Key, timeScale: config.timeScale },
    { keys, faults: merchant.faults, journal, timers, log, now: deps.now },
  );
  const shared = { keys, merchant, notifier, journal, timers, now: clock.now };
  // A late failure comes well after the success was reported: 25 steps later.
  const lateFailMs = config.stepMs * 25;
  const batches = createBatchesSandbox({ stepMs: config.stepMs, lateFailMs }, shared);
  const bills = createTransferBillsSandbox(
    {
      stepMs: config.stepMs,
      lateFailMs,
      confirmTimeoutMs: 86_400_000 * config.timeScale,
      autoConfirmMs: config.autoConfirmMs,
      autoConfirmShare: config.autoConfirmShare,
      closeState: config.billCloseState ?? 'FAIL',
      debitAt: config.billDebitAt ?? 'wait',
    },
    shared,
  );
  const v2 = createV2Sandbox({ lateFailMs }, shared);
  const oauth = createOAuthSandbox(config, deps);
  const trades = createTrades({ stepMs: config.stepMs }, shared);
  const payIn = createPayInSandbox({ merchant, trades, notifier, now: clock.now });
  const payInV2 = createPayInV2Sandbox({ merchant, trades, notifier, now: clock.now });
  let baseUrl = '';
  const statements = createBillsSandbox({
    merchant,
    trades,
    feeRate: config.feeRate ?? 0.006,
    baseUrl: () => baseUrl,
    now: clock.now,
  });
  const authorizations = createAuthorizationsSandbox({ merchant, journal, now: clock.now, createBill: bills.create });
  const admin = createAdmin({
    merchant,
    bills,
    authorizations,
    notifier,
    clock,
    trades,
    payerKeys: { appid: config.appid, apiV2Key: config.apiV2Key, merchantKey: keys.merchantCert.publicKey },
  });
  const nowS = () => Math.floor(deps.now() / 1000);

  function v3Route(
    method: string,
    path: string,
    q: URLSearchParams,
  ): ((body: string, headers: Record<string, string | undefined>) => V3Reply) | undefined {
    let m: RegExpExecArray | null;
    if (method === 'POST' && path === '/v3/transfer/batches')
      return (body, headers) => batches.create({ method, path, body, headers });
    if (method === 'GET' && (m = /^\/v3\/transfer\/batches\/out-batch-no\/([^/]+)$/.exec(path)))
      return () => batches.get(m![1]!, q);
    if (
      method === 'GET' &&
      (m = /^\/v3\/transfer\/batches\/out-batch-no\/([^/]+)\/details\/out-detail-no\/([^/]+)$/.exec(path))
    )
      return () => batches.detail(m![1]!, m![2]!);
    if (method === 'POST' && path === '/v3/fund-app/mch-transfer/transfer-bills')
      return (body, headers) => bills.create({ method, path, body, headers });
    if (method === 'POST' && path === '/v3/fund-app/mch-transfer/transfer-bills/transfer')
      return (body, headers) => authorizations.transfer({ method, path, body, headers });
    if (method === 'POST' && path === '/v3/fund-app/mch-transfer/user-confirm-authorization')
      return (body, headers) => authorizations.create({ method, path, body, headers });
    if (
      method === 'GET' &&
      (m = /^\/v3\/fund-app\/mch-transfer\/user-confirm-authorization\/out-authorization-no\/([^/]+)$/.exec(path))
    )
      return () => authorizations.get(m![1]!);
    if (method === 'GET' && (m = /^\/v3\/fund-app\/mch-transfer\/transfer-bills\/out-bill-no\/([^/]+)$/.exec(path)))
      return () => bills.get(m![1]!);
    if (
      method === 'POST' &&
      (m = /^\/v3\/fund-app\/mch-transfer\/transfer-bills\/out-bill-no\/([^/]+)\/cancel$/.exec(path))
    )
      return () => bills.cancel(m![1]!);
    if (method === 'GET' && path === '/v3/bill/fundflowbill') return () => statements.fundflow(q);
    if (method === 'GET' && path === '/v3/bill/tradebill') return () => statements.tradebill(q);
    if (method === 'POST' && (m = /^\/v3\/pay\/transactions\/(native|jsapi)$/.exec(path)))
      return (body, headers) => payIn.create({ method, path, body, headers }, m![1] === 'native' ? 'NATIVE' : 'JSAPI');
    if (method === 'GET' && (m = /^\/v3\/pay\/transactions\/(out-trade-no|id)\/([^/]+)$/.exec(path)))
      return () =>
        payIn.get(
          m![1] === 'id'
            ? { transaction_id: decodeURIComponent(m![2]!) }
            : { out_trade_no: decodeURIComponent(m![2]!) },
          q,
        );
    if (method === 'POST' && (m = /^\/v3\/pay\/transactions\/out-trade-no\/([^/]+)\/close$/.exec(path)))
      return (body) => payIn.close(decodeURIComponent(m![1]!), body);
    if (method === 'POST' && path === '/v3/refund/domestic/refunds')
      return (body, headers) => payIn.refund({ method, path, body, headers });
    if (method === 'GET' && (m = /^\/v3\/refund\/domestic\/refunds\/([^/]+)$/.exec(path)))
      return () => payIn.getRefund(decodeURIComponent(m![1]!));
    if (method === 'GET' && path === '/v3/certificates') return () => certificateList(keys, config.apiV3Key);
    return undefined;
  }

  /** The faults that answer before any work is done, for create routes. */
  function refusal(route: string, v3: boolean): V3Reply | string | undefined {
    if (!creates.has(route)) return undefined;
    const f = merchant.faults;
    if (merchant.take('frequencyLimited'))
      return v3
        ? v3Error(429, 'FREQUENCY_LIMITED', '频率超限')
        : toV2Xml({
            return_code: 'SUCCESS',
            result_code: 'FAIL',
            err_code: 'FREQ_LIMIT',
            err_code_des: '超过频率限制',
          });
    if (merchant.take('systemError')) return v3 ? v3Error(500, 'SYSTEM_ERROR', '系统错误') : V2_SYSTEM_ERROR;
    if (v3 && f.notEnough > 0 && payoutCreates.has(route) && merchant.take('notEnough'))
      return v3Error(403, 'NOT_ENOUGH', '商户运营账户资金不足');
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, certified: boolean) {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const route = `${req.method} ${url.pathname}`;
    const send = (
      status: number,
      body: string | Buffer,
      headers: Record<string, string> = {},
      type = 'application/json',
    ) => res.writeHead(status, { 'content-type': type, 'x-sandbox': 'wechatpay', ...headers }).end(body);
    const json = (status: number, body: unknown) => send(status, JSON.stringify(body));
    const body = await readBody(req);
    if (route === 'GET /healthz') return json(200, { status: 'ok' });
    if (route === 'GET /connect/oauth2/authorize') {
      const answer = oauth.authorize(url.searchParams);
      return 'error' in answer ? json(400, { error: answer.error }) : send(302, '', { location: answer.redirect });
    }
    if (route === 'GET /sns/oauth2/access_token') return json(200, oauth.accessToken(url.searchParams));
    // Admin routes live on the admin listener only: here they are unknown, like any other path.
    if (url.pathname.startsWith('/sandbox/')) return json(404, { errcode: 404, errmsg: 'not found' });

    if (merchant.faults.latencyMs > 0) await new Promise((r) => setTimeout(r, merchant.faults.latencyMs));
    merchant.counted(
      route
        .replace(/\/(out-batch-no|out-detail-no|out-bill-no|out-authorization-no|out-trade-no|id)\/[^/]+/g, '/$1/{no}')
        .replace(/^(GET \/v3\/refund\/domestic\/refunds)\/[^/]+$/, '$1/{no}'),
    );
    const hang = () => log.debug({ route }, 'sandbox_fault_no_answer');
    const v3 = url.pathname.startsWith('/v3/');
    if (v3) {
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]),
      );
      const signed = (reply: V3Reply) => {
        const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
        send(reply.status, text, signedHeaders(keys, headers['wechatpay-serial'], text, nowS()));
      };
      const unauthorized = checkV3Request(
        keys,
        { method: req.method ?? 'GET', path: `${url.pathname}${url.search}`, body, headers },
        nowS(),
      );
      // As WeChat: a request whose signature fails gets an unsigned answer (nothing to sign it for).
      if (unauthorized) return send(unauthorized.status, JSON.stringify(unauthorized.body));
      if (route === 'GET /v3/billdownload/file') {
        const file = statements.download(url.searchParams.get('token') ?? '');
        return file === undefined
          ? signed(v3Error(404, 'NOT_FOUND', '下载链接已过期'))
          : send(200, file, {}, typeof file === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream');
      }
      const handler = v3Route(req.method ?? 'GET', url.pathname, url.searchParams);
      if (!handler) return signed(v3Error(404, 'NOT_FOUND', '接口不存在'));
      const product = productOf(url.pathname);
      if (product && !merchant.has(product)) return signed(v3Error(403, 'NO_AUTH', NO_AUTH[product]));
      const refused = refusal(route, true);
      if (refused) return signed(refused as V3Reply);
      const reply = handler(body, headers);
      if (creates.has(route) && merchant.take('timeoutAfterWork')) return hang();
      if (creates.has(route) && merchant.take('systemErrorAfterWork'))
        return signed(v3Error(500, 'SYSTEM_ERROR', '系统错误'));
      return signed(reply);
    }
    const xml = (text: string) => send(200, text, {}, 'text/xml; charset=utf-8');
    if (route === 'POST /mmpaymkttransfers/promotion/transfers') {
      const refused = certified ? refusal(route, false) : undefined;
      if (refused) return xml(refused as string);
      const answer = v2.transfer(body, certified);
      if (merchant.take('timeoutAfterWork')) return hang();
      if (merchant.take('systemErrorAfterWork'))
        return xml(
          toV2Xml({ return_code: 'FAIL', return_msg: '系统繁忙', err_code: 'SYSTEMERROR', err_code_des: '系统繁忙' }),
        );
      return xml(answer);
    }
    if (route === 'POST /mmpaymkttransfers/gettransferinfo') return xml(v2.query(body, certified));
    if (route === 'POST /pay/unifiedorder' || route === 'POST /secapi/pay/refund') {
      // The create-time faults, signed as WeChat signs a business refusal (SYSTEMERROR comes unsigned).
      if (route === 'POST /pay/unifiedorder' || certified) {
        if (merchant.take('frequencyLimited'))
          return xml(payInV2.refused(body, 'FREQUENCY_LIMITED', '频率限制,请稍后再试'));
        if (merchant.take('systemError')) return xml(V2_SYSTEM_ERROR);
      }
      const answer = route === 'POST /pay/unifiedorder' ? payInV2.unifiedOrder(body) : payInV2.refund(body, certified);
      if (merchant.take('timeoutAfterWork')) return hang();
      if (merchant.take('systemErrorAfterWork'))
        return xml(
          toV2Xml({ return_code: 'FAIL', return_msg: '系统繁忙', err_code: 'SYSTEMERROR', err_code_des: '系统繁忙' }),
        );
      return xml(answer);
    }
    if (route === 'POST /pay/orderquery') return xml(payInV2.orderQuery(body));
    if (route === 'POST /pay/closeorder') return xml(payInV2.closeOrder(body));
    if (route === 'POST /pay/refundquery') return xml(payInV2.refundQuery(body));
    if (route === 'POST /pay/downloadfundflow' || route === 'POST /pay/downloadbill') {
      // The trade bill needs no certificate; the fund-flow bill does.
      const p = v2.admit(body, certified || route === 'POST /pay/downloadbill', 'mch_id');
      if (typeof p === 'string') return xml(p);
      const bill = route === 'POST /pay/downloadbill' ? statements.v2TradeBill(p) : statements.v2Fundflow(p);
      return bill.csv
        ? send(
            200,
            bill.csv,
            {},
            typeof bill.csv === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream',
          )
        : xml(bill.xml!);
    }
    log.debug({ route }, 'sandbox_unknown_route');
    return json(404, { errcode: 404, errmsg: 'not found' });
  }

  const serve = (certifiedOf: (req: IncomingMessage) => boolean) => (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, certifiedOf(req)).catch((err: unknown) => {
      log.error({ err, url: req.url }, 'sandbox_request_failed');
      if (!res.headersSent)
        res
          .writeHead(500, { 'content-type': 'application/json', 'x-sandbox': 'wechatpay' })
          .end(JSON.stringify({ code: 'SYSTEM_ERROR', message: 'sandbox fault' }));
    });
  };
  const merchantSerial = keys.merchantCert.serialNumber.toUpperCase();
  const adminServer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const reply = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json', 'x-sandbox': 'wechatpay' }).end(JSON.stringify(body));
    readBody(req)
      .then((body) => reply(...admin(`${req.method} ${url.pathname}`, body)))
      .catch((err: unknown) => {
        log.error({ err, url: req.url }, 'sandbox_admin_request_failed');
        if (!res.headersSent) reply(400, { error: (err as Error).message });
      });
  });
  const http = createServer(serve(() => false));
  const https = createTlsServer(
    { ...keys.tls, requestCert: true, rejectUnauthorized: false },
    serve((req) => {
      const socket = req.socket as TLSSocket;
      return socket.authorized && socket.getPeerCertificate().serialNumber?.toUpperCase() === merchantSerial;
    }),
  );
  const listen = (server: Server, port: number, host = config.host) =>
    new Promise<number>((resolve, reject) =>
      server.once('error', reject).listen(port, host, () => resolve((server.address() as AddressInfo).port)),
    );
  const ports = {
    http: await listen(http, config.port),
    https: await listen(https, config.tlsPort),
    admin: await listen(adminServer, config.adminPort, '127.0.0.1'),
  };
  baseUrl = `https://127.0.0.1:${ports.https}`;
  log.info(
    {
      port: ports.http,
      tlsPort: ports.https,
      adminPort: ports.admin,
      signWith: config.signWith,
      timeScale: config.timeScale,
    },
    'sandbox_started',
  );
  const close = (server: Server) =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return {
    port: ports.http,
    tlsPort: ports.https,
    adminPort: ports.admin,
    oauth,
    merchant,
    keys,
    trades,
    stop: async () => {
      timers.stop();
      await Promise.all([close(http), close(https as unknown as Server), close(adminServer)]);
    },
  };
}
export type Sandbox = Awaited<ReturnType<typeof startSandbox>>;
