// The WeChat Pay sandbox's HTTP server (a separate process; never mistaken for production: every
// answer carries `x-sandbox: wechatpay`). It serves the WeChat endpoints the pipeline calls.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../common/log.js';
import { createOAuthSandbox } from './oauth.js';

export interface SandboxConfig { host: string; port: number; appid: string; appSecret: string; seed: string }

export async function startSandbox(config: SandboxConfig, deps: { log: Logger; now(): number }) {
  const log = deps.log.child({ mod: 'sandbox' });
  const oauth = createOAuthSandbox(config, deps);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json', 'x-sandbox': 'wechatpay' }).end(JSON.stringify(body));
    if (req.method === 'GET' && url.pathname === '/healthz') return json(200, { status: 'ok' });
    if (req.method === 'GET' && url.pathname === '/connect/oauth2/authorize') {
      const answer = oauth.authorize(url.searchParams);
      if ('error' in answer) return json(400, { error: answer.error });
      return res.writeHead(302, { location: answer.redirect, 'x-sandbox': 'wechatpay' }).end();
    }
    if (req.method === 'GET' && url.pathname === '/sns/oauth2/access_token') return json(200, oauth.accessToken(url.searchParams));
    log.debug({ method: req.method, path: url.pathname }, 'sandbox_unknown_route');
    return json(404, { errcode: 404, errmsg: 'not found' });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(config.port, config.host, resolve));
  log.info({ port: (server.address() as AddressInfo).port }, 'sandbox_started');
  return {
    port: (server.address() as AddressInfo).port,
    oauth,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
