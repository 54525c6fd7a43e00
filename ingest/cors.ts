// CORS for /v1/beacons: a page of an origin an app registered (`npm run apps -- origin`) may post
// beacons, and read the answers. A filter, not a defence: the key ships inside the page, and a
// program sends any Origin header it likes; money rests on the server-side confirmations of
// CONTRACTS §7 alone. What the filter does is keep other sites' pages from using a copied key.
import type { BeaconResponse } from './collector.js';

/** The registered origins: which apps registered each (origin -> app ids). */
export interface Origins {
  /** Whether any app registered `origin` (enough for a preflight, which names no app). */
  knows(origin: string): boolean;
  /** Whether app `appId` registered `origin`. */
  allows(appId: string, origin: string): boolean;
}

export function originsOf(rows: { app_id: string; origin: string }[]): Origins {
  const apps = new Map<string, Set<string>>();
  for (const r of rows) (apps.get(r.origin) ?? apps.set(r.origin, new Set()).get(r.origin)!).add(r.app_id);
  return {
    knows: (origin) => apps.has(origin),
    allows: (appId, origin) => apps.get(origin)?.has(appId) ?? false,
  };
}

/**
 * `text` as an origin a browser sends (`https://shop.example`, `http://127.0.0.1:8000`: scheme, host
 * and a port other than the default; lower case), or undefined when it is not one.
 */
export function parseOrigin(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  const bare = !url.username && !url.password && url.pathname === '/' && !url.search && !url.hash;
  const web = url.protocol === 'https:' || url.protocol === 'http:';
  const host = /^([a-z0-9-]+\.)*[a-z0-9-]+$|^\[[0-9a-f:.]+\]$/.test(url.hostname);
  return bare && web && host && !text.includes('#') ? url.origin : undefined;
}

// The preflight's answer lets the page send what the SDK sends; a browser caches it for up to 2 h
// (Chromium's limit), so a revoked origin may keep posting that long; its beacons are refused then.
const preflight = {
  'access-control-allow-methods': 'POST',
  'access-control-allow-headers': 'Content-Type, Beacon-Signature',
  'access-control-max-age': '7200',
};

/** The headers that let a page of `origin` read an answer (Retry-After and Date too), when an app registered it. */
export function corsHeaders(origins: Origins, origin: string): Record<string, string> | undefined {
  if (!origin || !origins.knows(origin)) return undefined;
  const expose = 'Retry-After, Date'; // Date: the SDK corrects a device clock the signature window refused
  return { 'access-control-allow-origin': origin, 'access-control-expose-headers': expose, vary: 'Origin' };
}

/** The answer to OPTIONS /v1/beacons: a preflight from a registered origin passes; any other is refused. */
export function answerPreflight(origins: Origins, origin: string): BeaconResponse {
  const cors = corsHeaders(origins, origin);
  if (cors) return { status: 204, body: {}, headers: { ...cors, ...preflight } };
  if (!origin) return { status: 204, body: {}, headers: { allow: 'POST, OPTIONS' } }; // not a preflight
  return {
    status: 403,
    body: { error: 'origin_not_allowed', message: `no app registered origin ${origin} (npm run apps -- origin)` },
    headers: { vary: 'Origin' },
  };
}
