// The claims of a slice not yet written to a run, and the sort that writes them: 16-byte keys (four
// uint32 words, already permuted so uniform) in a typed-array open-addressing table, 32 bytes a key at
// most, with no object per key for the garbage collector to walk.

/** Compares key `i` of `a` with key `j` of `b` (key index, four words each), as unsigned words in order. */
export function compareKeys(a: Uint32Array, i: number, b: Uint32Array, j: number): number {
  const x = i * 4;
  const y = j * 4;
  for (let w = 0; w < 4; w++) {
    const d = a[x + w]! - b[y + w]!;
    if (d !== 0) return d;
  }
  return 0;
}

const MIN_SLOTS = 1 << 10;

export function createKeyTable() {
  let slots = MIN_SLOTS;
  let words = new Uint32Array(slots * 4);
  let count = 0;
  let hasZero = false; // the all-zero key marks an empty slot, so that one key is kept aside

  /** The slot holding the key at `k[o..o+4)`, or the empty slot where it would go. */
  function find(table: Uint32Array, mask: number, k: Uint32Array, o: number): number {
    const k0 = k[o]!,
      k1 = k[o + 1]!,
      k2 = k[o + 2]!,
      k3 = k[o + 3]!;
    for (let s = k3 & mask; ; s = (s + 1) & mask) {
      const p = s * 4;
      const w0 = table[p]!,
        w1 = table[p + 1]!,
        w2 = table[p + 2]!,
        w3 = table[p + 3]!;
      if (w0 === k0 && w1 === k1 && w2 === k2 && w3 === k3) return s;
      if ((w0 | w1 | w2 | w3) === 0) return s;
    }
  }
  const isZero = (k: Uint32Array, o: number) => (k[o]! | k[o + 1]! | k[o + 2]! | k[o + 3]!) === 0;

  function grow(): void {
    const old = words;
    slots *= 2;
    words = new Uint32Array(slots * 4);
    for (let p = 0; p < old.length; p += 4) {
      if ((old[p]! | old[p + 1]! | old[p + 2]! | old[p + 3]!) === 0) continue;
      const s = find(words, slots - 1, old, p) * 4;
      words[s] = old[p]!;
      words[s + 1] = old[p + 1]!;
      words[s + 2] = old[p + 2]!;
      words[s + 3] = old[p + 3]!;
    }
  }

  return {
    get count() {
      return count;
    },
    get bytes() {
      return words.byteLength;
    },
    has(k: Uint32Array, o: number): boolean {
      if (isZero(k, o)) return hasZero;
      const p = find(words, slots - 1, k, o) * 4;
      return (words[p]! | words[p + 1]! | words[p + 2]! | words[p + 3]!) !== 0;
    },
    /** Adds the key at `k[o..o+4)`; false when it was there already. */
    add(k: Uint32Array, o: number): boolean {
      if (isZero(k, o)) {
        if (hasZero) return false;
        hasZero = true;
        count++;
        return true;
      }
      const p = find(words, slots - 1, k, o) * 4;
      if ((words[p]! | words[p + 1]! | words[p + 2]! | words[p + 3]!) !== 0) return false;
      words[p] = k[o]!;
      words[p + 1] = k[o + 1]!;
      words[p + 2] = k[o + 2]!;
      words[p + 3] = k[o + 3]!;
      count++;
      if (count * 2 > slots) grow();
      return true;
    },
    /** The keys held, in no order. */
    keys(): Uint32Array {
      const out = new Uint32Array(count * 4);
      let n = 0;
      if (hasZero) n++; // already zero
      for (let p = 0; p < words.length; p += 4) {
        if ((words[p]! | words[p + 1]! | words[p + 2]! | words[p + 3]!) === 0) continue;
        const o = n++ * 4;
        out[o] = words[p]!;
        out[o + 1] = words[p + 1]!;
        out[o + 2] = words[p + 2]!;
        out[o + 3] = words[p + 3]!;
      }
      return out;
    },
  };
}
export type KeyTable = ReturnType<typeof createKeyTable>;

/**
 * The first `n` keys of `keys`, sorted (a new array). The keys are uniform below their first `skipBits`
 * bits (a merge sorts one range of the key space at a time), so a counting pass over the next bits puts
 * about one key in each bucket and an insertion sort finishes each: linear time.
 */
export function sortKeys(keys: Uint32Array, n: number, skipBits = 0): Uint32Array {
  const out = new Uint32Array(n * 4);
  const bits = n <= 1 ? 0 : Math.min(32 - skipBits, Math.ceil(Math.log2(n)));
  if (bits === 0) {
    out.set(keys.subarray(0, n * 4));
    insertionSort(out, 0, n);
    return out;
  }
  const shift = 32 - bits;
  const starts = new Uint32Array((1 << bits) + 1);
  for (let i = 0; i < n; i++) starts[((keys[i * 4]! << skipBits) >>> shift) + 1]!++;
  for (let b = 1; b < starts.length; b++) starts[b]! += starts[b - 1]!;
  const next = starts.slice(0, starts.length - 1);
  for (let i = 0; i < n; i++) {
    const p = i * 4;
    const b = (keys[p]! << skipBits) >>> shift;
    const o = next[b]!++ * 4;
    out[o] = keys[p]!;
    out[o + 1] = keys[p + 1]!;
    out[o + 2] = keys[p + 2]!;
    out[o + 3] = keys[p + 3]!;
  }
  for (let b = 0; b + 1 < starts.length; b++)
    if (starts[b + 1]! - starts[b]! > 1) insertionSort(out, starts[b]!, starts[b + 1]!);
  return out;
}

const t = new Uint32Array(4);
function insertionSort(a: Uint32Array, from: number, to: number): void {
  for (let i = from + 1; i < to; i++) {
    if (compareKeys(a, i - 1, a, i) <= 0) continue;
    t.set(a.subarray(i * 4, i * 4 + 4));
    let j = i;
    while (j > from && compareKeys(a, j - 1, t, 0) > 0) {
      a.copyWithin(j * 4, (j - 1) * 4, j * 4);
      j--;
    }
    a.set(t, j * 4);
  }
}
