// What both HTTP servers (uWebSockets.js and node:http) share: the status lines, the response
// headers of a collector answer. The operational routes are common/ops-server.ts's opsRoute.
import { STATUS_CODES } from 'node:http';
import type { Logger } from '../common/log.js';
import type { OpsDeps } from '../common/ops-server.js';
import type { BeaconRequest, BeaconResponse } from './collector.js';

export interface ServerDeps extends OpsDeps {
  collector: { handle(req: BeaconRequest): Promise<BeaconResponse> };
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
