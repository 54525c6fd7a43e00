// Claim ids, and the private order the claims store keeps them in. The store holds each id under a keyed
// permutation of its 16 bytes: exact (a bijection), yet where an id lands (filter block, bucket, hash slot)
// is uniform and unpredictable to whoever chooses the ids, so crafted ids cannot crowd one spot.
import { createHash } from 'node:crypto';

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The 16-byte claim of an event id or a confirmation key. A canonical lower-case UUID is its own bytes;
 * anything else is the first 16 bytes of SHA-256('k:' + id) with the top three bits of byte 8 set (the
 * UUID variant 111, reserved by RFC 9562), and a UUID of that variant is hashed too. So the two kinds
 * never meet: nobody can send an event whose id claims a confirmation key in advance.
 */
export function claimId(id: string): Buffer {
  if (id.length === 36 && CANONICAL_UUID.test(id) && (parseInt(id[19]!, 16) & 0xe) !== 0xe) {
    return Buffer.from(id.slice(0, 8) + id.slice(9, 13) + id.slice(14, 18) + id.slice(19, 23) + id.slice(24), 'hex');
  }
  const h = createHash('sha256').update('k:' + id).digest();
  h[8] = h[8]! | 0xe0;
  return h.subarray(0, 16);
}

export const KEY_SECRET_BYTES = 32;

/** Writes the permuted words of a 16-byte id (`src` at `at`) into `out[o..o+4)`. */
export type Permute = (src: Uint8Array, at: number, out: Uint32Array, o: number) => void;

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A four-round Feistel network over two 64-bit halves, its round function keyed by `secret` (32 bytes).
 * Any round function gives a bijection; this one mixes both words of the half into both outputs.
 * Not a cipher: it only has to keep ids' placement unpredictable, exactness never depends on it.
 */
export function createPermute(secret: Buffer): Permute {
  if (secret.length !== KEY_SECRET_BYTES) throw new RangeError(`claims key of ${secret.length} bytes`);
  const k = Array.from({ length: 8 }, (_, i) => secret.readUInt32LE(i * 4));
  const [k0, k1, k2, k3, k4, k5, k6, k7] = k as [number, number, number, number, number, number, number, number];
  return (src, at, out, o) => {
    let a = (src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16) | (src[at + 3]! << 24)) >>> 0;
    let b = (src[at + 4]! | (src[at + 5]! << 8) | (src[at + 6]! << 16) | (src[at + 7]! << 24)) >>> 0;
    let c = (src[at + 8]! | (src[at + 9]! << 8) | (src[at + 10]! << 16) | (src[at + 11]! << 24)) >>> 0;
    let d = (src[at + 12]! | (src[at + 13]! << 8) | (src[at + 14]! << 16) | (src[at + 15]! << 24)) >>> 0;
    let u: number, v: number, f0: number, f1: number;
    // round 1: (a,b) ^= F(c,d)
    u = c ^ k0; v = d ^ k1;
    f0 = fmix((u + Math.imul(v, 0x9e3779b1)) | 0); f1 = fmix(v ^ Math.imul(f0 ^ u, 0x27d4eb2f));
    a = (a ^ f0) >>> 0; b = (b ^ f1) >>> 0;
    // round 2: (c,d) ^= F(a,b)
    u = a ^ k2; v = b ^ k3;
    f0 = fmix((u + Math.imul(v, 0x9e3779b1)) | 0); f1 = fmix(v ^ Math.imul(f0 ^ u, 0x27d4eb2f));
    c = (c ^ f0) >>> 0; d = (d ^ f1) >>> 0;
    // round 3
    u = c ^ k4; v = d ^ k5;
    f0 = fmix((u + Math.imul(v, 0x9e3779b1)) | 0); f1 = fmix(v ^ Math.imul(f0 ^ u, 0x27d4eb2f));
    a = (a ^ f0) >>> 0; b = (b ^ f1) >>> 0;
    // round 4
    u = a ^ k6; v = b ^ k7;
    f0 = fmix((u + Math.imul(v, 0x9e3779b1)) | 0); f1 = fmix(v ^ Math.imul(f0 ^ u, 0x27d4eb2f));
    c = (c ^ f0) >>> 0; d = (d ^ f1) >>> 0;
    out[o] = a; out[o + 1] = b; out[o + 2] = c; out[o + 3] = d;
  };
}
