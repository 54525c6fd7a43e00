// Server-side enrichment of a request: a salted hash of the client IP (the IP itself is never
// stored), a user-agent class, and general invalid traffic (GIVT, MRC): declared bots by user agent
// and data-centre IP ranges. Flagged events still flow, marked, so analysts can see them.
import { createHash } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export type UaClass = 'bot' | 'browser' | 'app' | 'other';
export interface Enrichment {
  ipHash: string;
  uaClass: UaClass;
  invalidReason: string;
}

const BOT =
  /bot\b|crawler|spider|slurp|bingpreview|facebookexternalhit|headless|phantomjs|python-requests|curl\/|wget\/|go-http-client|java\/|libwww|scrapy/i;

export function classifyUserAgent(ua: string): UaClass {
  if (!ua) return 'other';
  if (BOT.test(ua)) return 'bot';
  if (ua.startsWith('Mozilla/')) return 'browser';
  return 'app'; // SDK and HTTP-library agents: MyApp/1.2 (iOS 17), okhttp/4, CFNetwork/...
}

/** CIDR lines ("203.0.113.0/24", "2001:db8::/32"); '#' starts a comment. */
export function parseCidrs(text: string): BlockList {
  const list = new BlockList();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [net = '', bits] = line.split('/');
    const type = isIPv4(net) ? 'ipv4' : isIPv6(net) ? 'ipv6' : undefined;
    const prefix = Number(bits ?? (type === 'ipv4' ? 32 : 128));
    if (!type || !Number.isInteger(prefix)) throw new Error(`bad CIDR "${line}"`);
    list.addSubnet(net, prefix, type);
  }
  return list;
}

/** A map that forgets its oldest entries past `max`: a device sends many beacons from one IP and UA. */
function memo<V>(max: number, compute: (key: string) => V): (key: string) => V {
  const cache = new Map<string, V>();
  return (key) => {
    let v = cache.get(key);
    if (v === undefined) {
      v = compute(key);
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
      cache.set(key, v);
    }
    return v;
  };
}

export function createEnricher(config: { ipSalt: string; datacenters: BlockList; cacheSize?: number }) {
  const byIp = memo(config.cacheSize ?? 50_000, (ip) => {
    const type = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined;
    return {
      ipHash: createHash('sha256').update(config.ipSalt).update(ip).digest('hex'),
      datacenter: type !== undefined && config.datacenters.check(ip, type),
    };
  });
  const uaClassOf = memo(config.cacheSize ?? 50_000, classifyUserAgent);
  return (ip: string, ua: string): Enrichment => {
    const { ipHash, datacenter } = byIp(ip);
    const uaClass = uaClassOf(ua);
    return { ipHash, uaClass, invalidReason: uaClass === 'bot' ? 'declared_bot' : datacenter ? 'datacenter_ip' : '' };
  };
}
