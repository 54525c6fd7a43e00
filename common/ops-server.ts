// The operational routes every long-running service serves (CONTRACTS.md §1 Operations) on its own
// small node:http server: GET /healthz (process up), /readyz (can do its job), /metrics (Prometheus).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export async function startOpsServer(config: { host: string; port: number }, deps: { registry: Registry; ready(): boolean }) {
  const server = createServer((req, res) => {
    const send = (status: number, type: string, body: string) => res.writeHead(status, { 'content-type': type }).end(body);
    const path = (req.url ?? '').split('?', 1)[0];
    if (req.method !== 'GET') return send(405, 'application/json', '{"error":"method_not_allowed"}');
    if (path === '/healthz') return send(200, 'application/json', '{"status":"ok"}');
    if (path === '/readyz') return deps.ready() ? send(200, 'application/json', '{"status":"ready"}') : send(503, 'application/json', '{"status":"not_ready"}');
    if (path === '/metrics') {
      return void deps.registry.metrics().then((text) => send(200, deps.registry.contentType, text), () => send(500, 'text/plain', 'metrics failed'));
    }
    send(404, 'application/json', '{"error":"not_found"}');
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(config.port, config.host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
