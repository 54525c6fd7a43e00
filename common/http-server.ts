// The HTTP server of the rewards and payouts APIs: Node's http module, since this API serves people, not beacon floods (the
// collector needs uWebSockets.js, this does not), and node:http is the better-known server to run
// and debug. Bodies are capped; a fault behind a route answers 503 and is logged, never leaked.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './log.js';
import { opsRoute, type OpsDeps } from './ops-server.js';

export interface ApiRequest { method: string; path: string; query: URLSearchParams; headers: Record<string, string | undefined>; body: Buffer }
export interface ApiResponse { status: number; body: unknown; headers?: Record<string, string> }

/** The error body of CONTRACTS.md §3. */
export const apiError = (status: number, code: string, message: string): ApiResponse => ({ status, body: { error: code, message } });

const MAX_BODY_BYTES = 16 * 1024;

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.resume();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startApiServer(
  config: { host: string; port: number },
  deps: OpsDeps & { log: Logger; handle(req: ApiRequest): Promise<ApiResponse>; observe(status: number): void },
) {
  const log = deps.log.child({ mod: 'http' });
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = ({ status, body, headers }: ApiResponse, type = 'application/json') => {
      deps.observe(status);
      res.writeHead(status, { 'content-type': type, ...headers }).end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    void (async () => {
      const ops = req.method === 'GET' ? await opsRoute(url.pathname, deps) : undefined;
      if (ops) return send({ status: ops[0], body: ops[2] }, ops[1]);
      const body = await readBody(req);
      if (!body) return send({ status: 413, body: { error: 'body_too_large', message: `bodies are at most ${MAX_BODY_BYTES} bytes` } });
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]));
      send(await deps.handle({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers, body }));
    })().catch((err: unknown) => {
      log.error({ err, path: url.pathname }, 'request_failed');
      if (!res.headersSent) send({ status: 503, body: { error: 'unavailable', message: 'the service could not complete the request; retry later' }, headers: { 'retry-after': '1' } });
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(config.port, config.host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
  };
}
