// HMAC-SHA256 (RFC 2104 over FIPS 180-4) in plain JavaScript, synchronous: a page that is going
// away signs its last beacons inside its pagehide handler, and nothing after that handler is sure
// to run, a WebCrypto promise's settling included. hmac.test.ts checks it against node:crypto.

// The first 32 bits of the fractional parts of the square roots of the first 8 primes (the initial
// hash) and of the cube roots of the first 64 (the round constants), as FIPS 180-4 defines them.
const primes: number[] = [];
for (let n = 2; primes.length < 64; n++) if (primes.every((p) => n % p)) primes.push(n);
const frac32 = (x: number) => ((x - Math.floor(x)) * 2 ** 32) >>> 0;
const H0 = primes.slice(0, 8).map((p) => frac32(Math.sqrt(p)));
const K = primes.map((p) => frac32(Math.cbrt(p)));

const ror = (x: number, n: number) => (x >>> n) | (x << (32 - n));

export function sha256(data: Uint8Array): Uint8Array {
  const size = (((data.length + 8) >> 6) + 1) << 6; // the data, 0x80, zeros, its bit length in 8 bytes
  const m = new Uint8Array(size);
  m.set(data);
  m[data.length] = 0x80;
  const view = new DataView(m.buffer);
  view.setUint32(size - 8, Math.floor(data.length / 2 ** 29));
  view.setUint32(size - 4, (data.length << 3) >>> 0);
  const h = Uint32Array.from(H0);
  const w = new Uint32Array(64);
  for (let block = 0; block < size; block += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(block + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15]!;
      const b = w[i - 2]!;
      w[i] = w[i - 16]! + (ror(a, 7) ^ ror(a, 18) ^ (a >>> 3)) + w[i - 7]! + (ror(b, 17) ^ ror(b, 19) ^ (b >>> 10));
    }
    let [a, b, c, d, e, f, g, k] = h as unknown as number[];
    for (let i = 0; i < 64; i++) {
      const t1 = (k! + (ror(e!, 6) ^ ror(e!, 11) ^ ror(e!, 25)) + ((e! & f!) ^ (~e! & g!)) + K[i]! + w[i]!) | 0;
      const t2 = ((ror(a!, 2) ^ ror(a!, 13) ^ ror(a!, 22)) + ((a! & b!) ^ (a! & c!) ^ (b! & c!))) | 0;
      [k, g, f, e, d, c, b, a] = [g, f, e, (d! + t1) | 0, c, b, a, (t1 + t2) | 0];
    }
    [a, b, c, d, e, f, g, k].forEach((x, i) => (h[i] = h[i]! + x!));
  }
  const out = new Uint8Array(32);
  const o = new DataView(out.buffer);
  h.forEach((x, i) => o.setUint32(i * 4, x));
  return out;
}

/** A signer for one key: `sign(message)` is HMAC-SHA256(key, message). */
export function hmacSha256(key: Uint8Array) {
  const block = new Uint8Array(64);
  block.set(key.length > 64 ? sha256(key) : key);
  const inner = block.map((b) => b ^ 0x36);
  const outer = block.map((b) => b ^ 0x5c);
  const concat = (a: Uint8Array, b: Uint8Array) => {
    const both = new Uint8Array(a.length + b.length);
    both.set(a);
    both.set(b, a.length);
    return both;
  };
  return (message: Uint8Array) => sha256(concat(outer, sha256(concat(inner, message))));
}
