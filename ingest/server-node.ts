// The same collector on Node's http module (INGEST_SERVER=node): HTTP routes only, kept so the
// benchmark can show what uWebSockets.js buys on the same pipeline.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createLimitedServer, defaultHttpLimits } from '../common/http-limits.js';
import type { BeaconResponse } from './collector.js';
import { clientIp, handleSafely, healthRoute, notFound, tooLarge, type ServerConfig, type ServerDeps } from './http.js';

export function createNodeServer(config: ServerConfig, deps: ServerDeps) {
  const write = (res: ServerResponse, r: BeaconResponse) => {
    res.writeHead(r.status, { 'content-type': 'application/json', ...(r.retryAfterS ? { 'retry-after': String(r.retryAfterS) } : {}) });
    res.end(JSON.stringify(r.body));
  };

  function beacons(req: IncomingMessage, res: ServerResponse) {
    if (Number(req.headers['content-length'] ?? 0) > config.maxBodyBytes) return write(res, tooLarge(config.maxBodyBytes));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > config.maxBodyBytes) {
        write(res, tooLarge(config.maxBodyBytes));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > config.maxBodyBytes) return;
      const header = (name: string) => (req.headers[name] as string | undefined) ?? '';
      void handleSafely(deps, {
        contentType: header('content-type'), signature: header('beacon-signature'), userAgent: header('user-agent'),
        ip: clientIp(req.socket.remoteAddress ?? '', header('x-forwarded-for'), config.trustProxy),
        body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
      }).then((r) => write(res, r));
    });
  }

  const server = createLimitedServer({ ...defaultHttpLimits, keepAliveTimeoutMs: 10_000 }, (req, res) => {
    if (req.method === 'POST' && req.url === '/v1/beacons') return beacons(req, res);
    if (req.method !== 'GET') return write(res, notFound);
    write(res, healthRoute((req.url ?? '').split('?', 1)[0]!, deps.ready) ?? notFound);
  });

  return {
    listen: () => new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve((server.address() as { port: number }).port));
    }),
    stop: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    }),
  };
}
