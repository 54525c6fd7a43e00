// Every route of the collector's public port, for both HTTP servers: which requests carry a body the
// server reads (bounded), and what answers each. The servers only read requests and write answers.
import type { BeaconResponse } from './collector.js';
import { answerPreflight, corsHeaders } from './cors.js';
import { handleSafely, healthRoute, notFound, type ServerDeps } from './http.js';

/** The request headers any route reads (uWebSockets.js must copy them before the handler returns). */
export type RouteHeaders = Record<
  'content-type' | 'beacon-signature' | 'postback-signature' | 'user-agent' | 'origin',
  string
>;

/** The route headers of a request ('' when absent), read through the server's own accessor. */
export const readHeaders = (get: (name: string) => string | undefined): RouteHeaders => ({
  'content-type': get('content-type') ?? '',
  'beacon-signature': get('beacon-signature') ?? '',
  'postback-signature': get('postback-signature') ?? '',
  'user-agent': get('user-agent') ?? '',
  origin: get('origin') ?? '',
});

/** `path` without the query; `query` raw (percent-encoded, as sent), without its '?'. */
export interface Incoming {
  method: string;
  path: string;
  query: string;
  headers: RouteHeaders;
  ip: string;
  body: Uint8Array;
}

/** Whether the server reads a body for this request before routing it (POST routes only). */
export const takesBody = (method: string, path: string) =>
  method === 'POST' && (path === '/v1/beacons' || path === '/v1/postbacks');

const SSV = '/v1/ssv/';

export function route(deps: ServerDeps, req: Incoming): Promise<BeaconResponse> {
  const origin = req.headers.origin;
  if (req.method === 'OPTIONS' && req.path === '/v1/beacons')
    return Promise.resolve(answerPreflight(deps.origins, origin));
  if (req.method === 'POST' && req.path === '/v1/beacons') {
    const answer = handleSafely(deps, {
      contentType: req.headers['content-type'],
      signature: req.headers['beacon-signature'],
      body: req.body,
      ip: req.ip,
      userAgent: req.headers['user-agent'],
      origin,
    });
    const cors = origin && corsHeaders(deps.origins, origin);
    return cors ? answer.then((r) => ({ ...r, headers: cors })) : answer;
  }
  if (req.method === 'POST' && req.path === '/v1/postbacks') {
    return safely(
      deps,
      deps.s2s.postback({
        contentType: req.headers['content-type'],
        signature: req.headers['postback-signature'],
        body: req.body,
      }),
    );
  }
  if (req.method === 'GET' && req.path.startsWith(SSV)) {
    const network = req.path.slice(SSV.length);
    return safely(deps, network === 'admob' ? deps.s2s.admob(req.query) : deps.s2s.network(network, req.query));
  }
  return Promise.resolve((req.method === 'GET' && healthRoute(req.path, deps.ready)) || notFound);
}

/** As handleSafely: a bug answers 500 rather than crash the process. */
function safely(deps: ServerDeps, answer: Promise<BeaconResponse>): Promise<BeaconResponse> {
  return answer.catch((err: unknown) => {
    deps.log.error({ err }, 's2s_handler_failed');
    return { status: 500, body: { error: 'internal_error', message: 'the collector failed to handle this request' } };
  });
}
