// The "certainly not in this run" test in front of a run's disk probe: a split-block bloom filter (a
// 128-bit block per key, one bit in each of its four words). Its block count is a power of two, so a
// filter halves by OR-ing its two halves: the store folds filters to fit its RAM budget, denser, never wrong.

// Four bits a key, not eight: about as good at 10 bits a key, and far better once folded to 2-5
// (measured: 41 % against 72 % false positives at 2.5 bits a key, 10 % against 18 % at 5).
const SALTS = Uint32Array.of(0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f);
export const FILTER_BLOCK_WORDS = 4;
export const FILTER_BLOCK_BYTES = FILTER_BLOCK_WORDS * 4;
const BITS_PER_KEY = 10;

/** Sets key (k1 chooses the block, k2 the bits) in a filter of `mask + 1` blocks. */
export function filterAdd(f: Uint32Array, mask: number, k1: number, k2: number): void {
  const base = (k1 & mask) << 2;
  f[base]! |= 1 << (Math.imul(k2, SALTS[0]!) >>> 27);
  f[base + 1]! |= 1 << (Math.imul(k2, SALTS[1]!) >>> 27);
  f[base + 2]! |= 1 << (Math.imul(k2, SALTS[2]!) >>> 27);
  f[base + 3]! |= 1 << (Math.imul(k2, SALTS[3]!) >>> 27);
}

export function filterMayHave(f: Uint32Array, mask: number, k1: number, k2: number): boolean {
  const base = (k1 & mask) << 2;
  return (
    (f[base]! & (1 << (Math.imul(k2, SALTS[0]!) >>> 27))) !== 0 &&
    (f[base + 1]! & (1 << (Math.imul(k2, SALTS[1]!) >>> 27))) !== 0 &&
    (f[base + 2]! & (1 << (Math.imul(k2, SALTS[2]!) >>> 27))) !== 0 &&
    (f[base + 3]! & (1 << (Math.imul(k2, SALTS[3]!) >>> 27))) !== 0
  );
}

/** OR-s `blocks` (filter blocks numbered from `first`) into `into`, a filter of 2^intoLog2 blocks. */
export function foldInto(into: Uint32Array, intoLog2: number, blocks: Uint32Array, first: number): void {
  const mask = (1 << intoLog2) - 1;
  for (let b = 0; b * FILTER_BLOCK_WORDS < blocks.length; b++) {
    const to = ((first + b) & mask) * FILTER_BLOCK_WORDS;
    for (let w = 0; w < FILTER_BLOCK_WORDS; w++) into[to + w]! |= blocks[b * FILTER_BLOCK_WORDS + w]!;
  }
}

/** The filter written with a run of `count` keys: 10-20 bits a key, at most `capBytes`. */
export function filterLog2For(count: number, capBytes: number): number {
  const want = Math.max(0, Math.ceil(Math.log2(Math.max(1, (count * BITS_PER_KEY) / (FILTER_BLOCK_BYTES * 8)))));
  return Math.min(want, Math.max(0, Math.floor(Math.log2(capBytes / FILTER_BLOCK_BYTES))));
}

/** Estimated false-positive rate of `count` keys in 2^log2 blocks. */
export function falsePositiveRate(count: number, log2: number): number {
  return (1 - Math.pow(31 / 32, count / 2 ** log2)) ** FILTER_BLOCK_WORDS;
}

/**
 * How far to fold each run's filter (its log2 block count in RAM) so all fit `budgetBytes`: each its
 * share of the budget by its keys (rounded down to a power of two), then doublings by the most false
 * positives saved per byte, up to the written size. An absent id is looked up in every run, so the sum
 * of the rates is the disk probes it costs.
 */
export function planFilters(runs: { count: number; fileLog2: number }[], budgetBytes: number): number[] {
  const bytes = (l: number) => FILTER_BLOCK_BYTES * 2 ** l;
  if (runs.reduce((sum, r) => sum + bytes(r.fileLog2), 0) <= budgetBytes) return runs.map((r) => r.fileLog2);
  const keys = runs.reduce((n, r) => n + r.count, 0);
  const log2 = runs.map((r) =>
    Math.min(r.fileLog2, Math.max(0, Math.floor(Math.log2((budgetBytes * r.count) / keys / FILTER_BLOCK_BYTES)))),
  );
  let left = budgetBytes - log2.reduce((n, l) => n + bytes(l), 0);
  for (;;) {
    let best = -1;
    let bestGain = 0;
    runs.forEach((r, i) => {
      const l = log2[i]!;
      if (l >= r.fileLog2 || bytes(l) > left) return;
      const gain = (falsePositiveRate(r.count, l) - falsePositiveRate(r.count, l + 1)) / bytes(l);
      if (best < 0 || gain > bestGain) {
        best = i;
        bestGain = gain;
      }
    });
    if (best < 0) return log2;
    left -= bytes(log2[best]!);
    log2[best]!++;
  }
}
