// The HTTP server of the rewards and payouts APIs: Node's http module, since this API serves people, not beacon floods (the
// collector needs uWebSockets.js, this does not), and node:http is the better-known server to run
// and debug. Bodies, time and connections are capped (http-limits.ts); a fault behind a route
// answers 503 and is logged, never leaked. /metrics is not here: it is on the ops listener.
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './log.js';
import { createLimitedServer, type HttpLimits } from './http-limits.js';
import { healthRoute } from './ops-server.js';

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | undefined>;
  body: Buffer;
}
export interface ApiResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** The error body of CONTRACTS.md §3. */
export const apiError = (status: number, code: string, message: string): ApiResponse => ({
  status,
  body: { error: code, message },
});

const MAX_BODY_BYTES = 16 * 1024;

/** The body, 'too_large', or 'aborted' when the client went away (or was cut off) before its end. */
function readBody(req: IncomingMessage): Promise<Buffer | 'too_large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve('too_large');
        req.resume();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', () => resolve('aborted'));
    req.on('close', () => resolve('aborted')); // after 'end' this changes nothing
  });
}

export async function startApiServer(
  config: { host: string; port: number; limits: HttpLimits },
  deps: { log: Logger; ready(): boolean; handle(req: ApiRequest): Promise<ApiResponse>; observe(status: number): void },
) {
  const log = deps.log.child({ mod: 'http' });
  const server = createLimitedServer(config.limits, (req, res) => {
    const send = ({ status, body, headers }: ApiResponse, type = 'application/json') => {
      deps.observe(status);
      res
        .writeHead(status, { 'content-type': type, ...headers })
        .end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    // A target such as `//` is valid HTTP but no URL: thrown here, it would take the process down.
    if (!URL.canParse(req.url ?? '/', 'http://localhost'))
      return send(apiError(400, 'bad_request', 'the request target is not a valid path'));
    const url = new URL(req.url ?? '/', 'http://localhost');
    void (async () => {
      const health = req.method === 'GET' ? healthRoute(url.pathname, deps) : undefined;
      if (health) return send({ status: health[0], body: health[2] }, health[1]);
      const body = await readBody(req);
      if (body === 'aborted') return; // nobody left to answer
      if (body === 'too_large')
        return send({
          status: 413,
          body: { error: 'body_too_large', message: `bodies are at most ${MAX_BODY_BYTES} bytes` },
        });
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]),
      );
      send(
        await deps.handle({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers, body }),
      );
    })().catch((err: unknown) => {
      log.error({ err, path: url.pathname }, 'request_failed');
      if (!res.headersSent)
        send({
          status: 503,
          body: { error: 'unavailable', message: 'the service could not complete the request; retry later' },
          headers: { 'retry-after': '1' },
        });
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(config.port, config.host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
