// Text that ClickHouse and Postgres cannot store as sent: a NUL (Postgres refuses it in text) or a
// lone UTF-16 surrogate (no UTF-8 form; JSON escapes like "\ud800" produce one). Found at the door,
// so the event is rejected alone instead of poisoning its record downstream.
import { unstorable } from '../common/storable-text.js';

// One cheap test per string on the hot path; a hit (rare) is then told apart from a valid pair.
// eslint-disable-next-line no-control-regex -- NUL is what it looks for
const SUSPECT = /[\u0000\uD800-\uDFFF]/;
const WHY = { nul: 'contains NUL', lone_surrogate: 'contains a lone UTF-16 surrogate' } as const;

/** Why `s` cannot be stored, as reason text, or undefined when it can (or is absent). */
export function textProblem(s: string | null | undefined): string | undefined {
  if (!s || !SUSPECT.test(s)) return undefined;
  const why = unstorable(s);
  return why && WHY[why];
}
