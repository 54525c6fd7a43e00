// The simulator's HTTP face, on loopback only: the SDK's and the advertiser's reports in, the
// secrets the operator's npm commands printed, and counts for the demo to wait on.
//   POST /v1/rewarded      {network, ad_unit, app_id (HMAC networks), user_id, custom_data, reward_amount?, reward_item?, plan?}
//   POST /v1/conversions   {campaign_id, event_id | click_id, user_id, value_micros?, currency?, occurred_at, plan?}
//   POST /v1/admin/secrets {networks: [{network, app_id, secret}], campaigns: [{campaign_id, secret}]}
//   GET  /v1/stats, GET /healthz
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdNetwork, Answer } from './network.js';

const MAX_BODY = 64 * 1024;

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req
      .on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      })
      .on('end', () => {
        if (size > MAX_BODY) return resolve(undefined);
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          resolve(undefined);
        }
      })
      .on('error', () => resolve(undefined));
  });
}

const send = (res: ServerResponse, status: number, body: unknown) =>
  void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

export async function startAdNetworkServer(config: { port: number }, network: AdNetwork) {
  const routes: Record<string, (body: unknown) => Answer> = {
    'POST /v1/rewarded': network.rewarded,
    'POST /v1/conversions': network.conversion,
    'POST /v1/admin/secrets': network.setSecrets,
  };
  const server = createServer(async (req, res) => {
    const route = `${req.method} ${new URL(req.url ?? '/', 'http://x').pathname}`;
    if (route === 'GET /healthz') return send(res, 200, { status: 'ok' });
    if (route === 'GET /v1/stats') return send(res, 200, network.stats());
    const handle = routes[route];
    if (!handle) return send(res, 404, { error: 'not_found', message: route });
    const body = await readJson(req);
    if (body === undefined)
      return send(res, 400, { error: 'invalid_json', message: `a JSON body of at most ${MAX_BODY} bytes` });
    const answer = handle(body);
    if (!answer.ok) return send(res, answer.status, { error: answer.error, message: answer.message });
    if (route === 'POST /v1/admin/secrets') return send(res, 200, { status: 'stored' });
    send(res, 202, { status: 'scheduled', transaction_id: answer.transaction_id });
  });
  // Loopback only: the admin route has no authentication.
  await new Promise<void>((resolve) => server.listen(config.port, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      await network.stop();
    },
  };
}
