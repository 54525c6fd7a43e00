// Claim ids, and the private order the claims store keeps them in. The store holds each id under a keyed
// permutation of its 16 bytes: exact (a bijection), yet where an id lands (filter block, bucket, hash slot)
// is uniform and unpredictable to whoever chooses the ids, so crafted ids cannot crowd one spot.
import { createHash } from 'node:crypto';

/** Lower-case hex digits' values by character code, -1 for every other character. */
const HEX = new Int8Array(128).fill(-1);
for (let d = 0; d < 16; d++) HEX[d.toString(16).charCodeAt(0)] = d;

/** The bytes of a canonical lower-case UUID (36 characters, dashes at 8, 13, 18 and 23), else undefined. */
function uuidBytes(id: string): Buffer | undefined {
  const out = Buffer.allocUnsafe(16);
  for (let i = 0, b = 0; i < 36; i += 2) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (id.charCodeAt(i) !== 0x2d) return undefined;
      i--; // the group's digits start after the dash
      continue;
    }
    const hi = HEX[id.charCodeAt(i)] ?? -1; // past the table: not a hex digit
    const lo = HEX[id.charCodeAt(i + 1)] ?? -1;
    if (hi < 0 || lo < 0) return undefined;
    out[b++] = (hi << 4) | lo;
  }
  return out;
}

/**
 * The 16-byte claim of an event id or a confirmation key. A canonical lower-case UUID is its own bytes;
 * anything else is the first 16 bytes of SHA-256('k:' + id) with the top three bits of byte 8 set (the
 * UUID variant 111, reserved by RFC 9562), and a UUID of that variant is hashed too. So the two kinds
 * never meet: nobody can send an event whose id claims a confirmation key in advance.
 */
export function claimId(id: string): Buffer {
  const uuid = id.length === 36 ? uuidBytes(id) : undefined;
  if (uuid && (uuid[8]! & 0xe0) !== 0xe0) return uuid;
  const h = createHash('sha256')
    .update('k:' + id)
    .digest();
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
    u = c ^ k0;
    v = d ^ k1;
    f0 = fmix((u + Math.imul(v, 0x9e3779b1)) | 0);
    f1 = fmix(v ^ Math.imul(f0 ^ u, 0x27d4eb2f));
    a = (a ^ f0) >>> 0;
    b = (b ^ f1) >>> 0;
    // round 2: (c,d) ^= F(a,b)
    u = a ^ k2;
    v = b ^ k3;
    f0 = fmix((u + Math.imul(v, 0x9e3779b1)) | 0);
    f1 = fmix(v ^ Math.imul(f0 ^ u, 0x27d4eb2f));
    c = (c ^ f0) >>> 0;
    d = (d ^ f1) >>> 0;
    // round 3
    u = c ^ k4;
    v = d ^ k5;
    f0 = fmix((u + Math.imul(v, 0x9e3779b1)) | 0);
    f1 = fmix(v ^ Math.imul(f0 ^ u, 0x27d4eb2f));
    a = (a ^ f0) >>> 0;
    b = (b ^ f1) >>> 0;
    // round 4
    u = a ^ k6;
    v = b ^ k7;
    f0 = fmix((u + Math.imul(v, 0x9e3779b1)) | 0);
    f1 = fmix(v ^ Math.imul(f0 ^ u, 0x27d4eb2f));
    c = (c ^ f0) >>> 0;
    d = (d ^ f1) >>> 0;
    out[o] = a;
    out[o + 1] = b;
    out[o + 2] = c;
    out[o + 3] = d;
  };
}
