// The same collector on Node's http module (INGEST_SERVER=node): HTTP routes only, kept so the
// benchmark can show what uWebSockets.js buys on the same pipeline.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLimitedServer, defaultHttpLimits } from '../common/http-limits.js';
import type { BeaconResponse } from './collector.js';
import { clientIp, tooLarge, type ServerConfig, type ServerDeps } from './http.js';
import { readHeaders, route, takesBody, type Incoming } from './routes.js';

const EMPTY = new Uint8Array(0);

export function createNodeServer(config: ServerConfig, deps: ServerDeps) {
  const write = (res: ServerResponse, r: BeaconResponse) => {
    res.writeHead(r.status, {
      ...(r.status === 204 ? {} : { 'content-type': 'application/json' }),
      ...(r.retryAfterS ? { 'retry-after': String(r.retryAfterS) } : {}),
      ...r.headers,
    });
    res.end(r.status === 204 ? undefined : JSON.stringify(r.body));
  };

  /** Reads the body (bounded) of a route that takes one, then writes what routes.ts answers. */
  function handle(req: IncomingMessage, res: ServerResponse) {
    const method = req.method ?? '';
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const header = (name: string) => req.headers[name] as string | undefined;
    const incoming = (body: Uint8Array): Incoming => ({
      method,
      path,
      query: q < 0 ? '' : url.slice(q + 1),
      headers: readHeaders(header),
      body,
      ip: clientIp(req.socket.remoteAddress ?? '', header('x-forwarded-for') ?? '', config.trustProxy),
    });
    if (!takesBody(method, path)) return void route(deps, incoming(EMPTY)).then((r) => write(res, r));

    const refuse = () => write(res, tooLarge(config.maxBodyBytes, deps.origins, header('origin') ?? ''));
    if (Number(req.headers['content-length'] ?? 0) > config.maxBodyBytes) return refuse();
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > config.maxBodyBytes) {
        refuse();
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > config.maxBodyBytes) return;
      void route(deps, incoming(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))).then((r) => write(res, r));
    });
  }

  const server = createLimitedServer({ ...defaultHttpLimits, keepAliveTimeoutMs: 10_000 }, handle);

  return {
    listen: () =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => resolve((server.address() as { port: number }).port));
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
