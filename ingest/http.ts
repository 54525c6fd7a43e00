// What both HTTP servers (uWebSockets.js and node:http) share: the status lines, the response
// headers of a collector answer, the health routes. /metrics is served on the ops listener only.
import { STATUS_CODES } from 'node:http';
import type { Logger } from '../common/log.js';
import type { BeaconRequest, BeaconResponse } from './collector.js';
import type { Confirmations } from './confirmations.js';
import { corsHeaders, type Origins } from './cors.js';

export interface ServerDeps {
  collector: { handle(req: BeaconRequest): Promise<BeaconResponse> };
  /** The S2S endpoints (CONTRACTS.md §7). */
  s2s: Confirmations;
  /** The origins apps registered, for CORS on /v1/beacons. */
  origins: Origins;
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
export interface ServerConfig {
  host: string;
  port: number;
  maxBodyBytes: number;
  trustProxy: boolean;
}

export const statusLine = (status: number) => `${status} ${STATUS_CODES[status] ?? ''}`;

/** 413, readable by a registered origin's page (so its SDK learns the batch was too big, not that the network failed). */
export function tooLarge(maxBodyBytes: number, origins: Origins, origin: string): BeaconResponse {
  const headers = corsHeaders(origins, origin);
  const body = { error: 'body_too_large', message: `the body exceeds ${maxBodyBytes} bytes` };
  return { status: 413, body, ...(headers && { headers }) };
}

export const notFound: BeaconResponse = { status: 404, body: { error: 'not_found', message: 'no such route' } };

/**
 * GET /healthz and /readyz, which load balancers probe on the public port (`path` without its query).
 * Any other path, /metrics included, is not found here: metrics go to the ops listener only.
 */
export function healthRoute(path: string, ready: () => boolean): BeaconResponse | undefined {
  if (path === '/healthz') return { status: 200, body: { status: 'ok' } };
  if (path === '/readyz')
    return ready() ? { status: 200, body: { status: 'ready' } } : { status: 503, body: { status: 'not_ready' } };
  return undefined;
}

/** The client address: the first X-Forwarded-For hop when behind a trusted proxy. */
export const clientIp = (remote: string, forwardedFor: string, trustProxy: boolean) =>
  trustProxy && forwardedFor ? forwardedFor.split(',', 1)[0]!.trim() : remote;
