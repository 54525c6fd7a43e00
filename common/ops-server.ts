// The operational routes every long-running service serves (CONTRACTS.md §1 Operations): GET
// /healthz (process up), /readyz (can do its job), /metrics (Prometheus). `healthRoute` answers the
// first two, for a public port's load balancer; `opsRoute` all three, for a listener only operators
// reach; `startOpsServer` is that listener, a small node:http server of its own.
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { createLimitedServer, defaultHttpLimits, type HttpLimits } from './http-limits.js';

export interface OpsDeps {
  registry: Registry;
  ready(): boolean;
}
type Route = [status: number, contentType: string, body: string];

/** [status, content type, body] for /healthz or /readyz, or undefined for any other path. */
export function healthRoute(path: string, deps: Pick<OpsDeps, 'ready'>): Route | undefined {
  if (path === '/healthz') return [200, 'application/json', '{"status":"ok"}'];
  if (path === '/readyz') {
    return deps.ready()
      ? [200, 'application/json', '{"status":"ready"}']
      : [503, 'application/json', '{"status":"not_ready"}'];
  }
  return undefined;
}

/** [status, content type, body] for an operational path (with /metrics), or undefined for any other path. */
export async function opsRoute(path: string, deps: OpsDeps): Promise<Route | undefined> {
  if (path === '/metrics') return [200, deps.registry.contentType, await deps.registry.metrics()];
  return healthRoute(path, deps);
}

/** Scrapes and probes are few: a small share of sockets is plenty. */
const OPS_LIMITS: HttpLimits = { ...defaultHttpLimits, maxConnections: 64 };

export async function startOpsServer(config: { host: string; port: number; limits?: HttpLimits }, deps: OpsDeps) {
  const server = createLimitedServer(config.limits ?? OPS_LIMITS, (req, res) => {
    const send = ([status, type, body]: Route) => res.writeHead(status, { 'content-type': type }).end(body);
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
