// The operational routes every long-running service serves (CONTRACTS.md §1 Operations): GET
// /healthz (process up), /readyz (can do its job), /metrics (Prometheus). `opsRoute` answers them
// for any HTTP server (the collector's); `startOpsServer` is a small node:http server of its own
// for services without one.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface OpsDeps { registry: Registry; ready(): boolean }

/** [status, content type, body] for an operational path, or undefined for any other path. */
export async function opsRoute(path: string, deps: OpsDeps): Promise<[number, string, string] | undefined> {
  if (path === '/healthz') return [200, 'application/json', '{"status":"ok"}'];
  if (path === '/readyz') {
    return deps.ready() ? [200, 'application/json', '{"status":"ready"}'] : [503, 'application/json', '{"status":"not_ready"}'];
  }
  if (path === '/metrics') return [200, deps.registry.contentType, await deps.registry.metrics()];
  return undefined;
}

export async function startOpsServer(config: { host: string; port: number }, deps: OpsDeps) {
  const server = createServer((req, res) => {
    const send = ([status, type, body]: [number, string, string]) => res.writeHead(status, { 'content-type': type }).end(body);
    if (req.method !== 'GET') return send([405, 'application/json', '{"error":"method_not_allowed"}']);
    opsRoute((req.url ?? '').split('?', 1)[0]!, deps).then(
      (route) => send(route ?? [404, 'application/json', '{"error":"not_found"}']),
      () => send([500, 'text/plain', 'metrics failed']),
    );
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(config.port, config.host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
