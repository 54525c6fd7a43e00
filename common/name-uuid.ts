// UUIDs. Stable ids from names: the same name always gives the same UUID (version 8, from SHA-256), so an
// id derived from a source id (an earning from its event, a payout from its request) survives replays.
import { createHash } from 'node:crypto';

export function nameUuid(name: string): string {
  const h = createHash('sha256').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID in canonical form (8-4-4-4-12 hex digits, either case). */
export const isUuid = (s: string): boolean => UUID.test(s);
