// UUIDs. Stable ids from names: the same name always gives the same UUID (version 8, from SHA-256), so an
// id derived from a source id (an earning from its event, a payout from its request) survives replays.
import { hash } from 'node:crypto';

const VARIANT = '89ab';

/** The name's SHA-256, its first 16 bytes as a UUID with version 8 and the RFC 9562 variant bits. */
export function nameUuid(name: string): string {
  // On the hex digits (a third of the time of a hash object and byte edits): digit 12 is the
  // version, 8; the top two bits of digit 16 are the variant, binary 10.
  const x = hash('sha256', name, 'hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-8${x.slice(13, 16)}-${VARIANT[parseInt(x[16]!, 16) & 3]}${x.slice(17, 20)}-${x.slice(20, 32)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID in canonical form (8-4-4-4-12 hex digits, either case). */
export const isUuid = (s: string): boolean => UUID.test(s);
