// The claims store's two decisions over its runs, as pure functions: how the RAM budget is shared
// (tables, then filters) and which runs merge next (by aligned groups of slices, as they age).
import { planFilters } from './claims-filter.js';

/** Runs merge within aligned groups of these many slices, once the group has ended (or holds FAN_IN runs). */
const MERGE_SPANS = [1, 6, 24];
const FAN_IN = 8;

/** The merge spans a window allows: a merged run keeps claims up to its span longer, at most a quarter window. */
export const mergeSpans = (sliceMs: number, windowMs: number) =>
  MERGE_SPANS.filter((s) => s === 1 || s * sliceMs * 4 <= windowMs);

/**
 * Each run's bucket table bits and filter log2 block count in RAM: the tables take at most an eighth of
 * the budget (the largest coarsened first: a probe of its run reads more), the filters the rest.
 */
export function planRam(runs: { count: number; bucketBits: number; filterLog2: number }[], budgetBytes: number) {
  const tableBits = runs.map((r) => r.bucketBits);
  const tableBytes = () => tableBits.reduce((n, b) => n + (2 ** b + 1) * 4, 0);
  let tables = tableBytes();
  while (tables > budgetBytes / 8) {
    const i = tableBits.indexOf(Math.max(...tableBits));
    if (tableBits[i]! <= 1) break;
    tableBits[i]!--;
    tables = tableBytes();
  }
  const filterLog2 = planFilters(
    runs.map((r) => ({ count: r.count, fileLog2: r.filterLog2 })),
    budgetBytes - tables,
  );
  return { tableBits, filterLog2 };
}

/** The runs to merge next (one aligned group of slices), or null. `slice` is now's; `open` the slices still in RAM. */
export function pickMerge<R extends { minAt: number; maxAt: number }>(
  runs: R[],
  at: { slice: number; sliceMs: number; spans: number[]; open: number[] },
): R[] | null {
  const sliceOf = (t: number) => Math.floor(t / at.sliceMs);
  for (const span of at.spans) {
    const groups = new Map<number, R[]>();
    for (const r of runs) {
      const g = Math.floor(sliceOf(r.minAt) / span);
      if (Math.floor(sliceOf(r.maxAt) / span) === g) groups.set(g, [...(groups.get(g) ?? []), r]);
    }
    for (const [g, rs] of groups) {
      if (rs.length < 2) continue;
      const ended = (g + 1) * span <= at.slice && !at.open.some((s) => Math.floor(s / span) === g);
      if (ended || rs.length >= FAN_IN) return rs;
    }
  }
  return null;
}
