// What both HTTP servers (uWebSockets.js and node:http) share: the status lines, the response
// headers of a collector answer, and the operational routes.
import { STATUS_CODES } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../common/log.js';
import type { BeaconRequest, BeaconResponse } from './collector.js';

export interface ServerDeps {
  collector: { handle(req: BeaconRequest): Promise<BeaconResponse> };
  registry: Registry;
  ready(): boolean;
  log: Logger;
}

/** The collector never throws for bad input; a bug still answers 500 rather than crash the process. */
export function handleSafely(deps: ServerDeps, req: BeaconRequest): Promise<BeaconResponse> {
  return deps.collector.handle(req).catch((err: unknown) => {
    deps.log.error({ err }, 'beacon_handler_failed');
    return { status: 500, body: { error: 'internal_error', message: 'the collector failed to handle this request' } };
  });
}
export interface ServerConfig { host: string; port: number; maxBodyBytes: number; trustProxy: boolean }

export const statusLine = (status: number) => `${status} ${STATUS_CODES[status] ?? ''}`;

export const tooLarge = (maxBodyBytes: number): BeaconResponse =>
  ({ status: 413, body: { error: 'body_too_large', message: `the body exceeds ${maxBodyBytes} bytes` } });

export const notFound: BeaconResponse = { status: 404, body: { error: 'not_found', message: 'no such route' } };

/** The client address: the first X-Forwarded-For hop when behind a trusted proxy. */
export const clientIp = (remote: string, forwardedFor: string, trustProxy: boolean) =>
  (trustProxy && forwardedFor ? forwardedFor.split(',', 1)[0]!.trim() : remote);

/** GET routes every service has (CONTRACTS.md §1 Operations): [status, content type, body]. */
export async function opsRoute(path: string, deps: ServerDeps): Promise<[number, string, string] | undefined> {
  if (path === '/healthz') return [200, 'application/json', '{"status":"ok"}'];
  if (path === '/readyz') {
    return deps.ready() ? [200, 'application/json', '{"status":"ready"}'] : [503, 'application/json', '{"status":"not_ready"}'];
  }
  if (path === '/metrics') return [200, deps.registry.contentType, await deps.registry.metrics()];
  return undefined;
}
