// Whether a decoded string can be stored faithfully by Postgres and ClickHouse: Postgres refuses NUL
// in text (SQLSTATE 22021), and a lone UTF-16 surrogate has no UTF-8 form (it would be stored as
// U+FFFD, another value). A record carrying one is poison, found before any write.
// eslint-disable-next-line no-control-regex -- NUL is what this looks for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `s` cannot be stored ('nul' or 'lone_surrogate'), or undefined when it can. */
export function unstorable(s: string): 'nul' | 'lone_surrogate' | undefined {
  const m = UNSTORABLE.exec(s);
  if (!m) return undefined;
  return m[0] === '\u0000' ? 'nul' : 'lone_surrogate';
}

/** The first of `fields` (name -> value) that cannot be stored, as `<field>: <why>`. */
export function firstUnstorable(fields: Record<string, string | null | undefined>): string | undefined {
  for (const name in fields) {
    const value = fields[name];
    const why = value ? unstorable(value) : undefined;
    if (why) return `${name}: ${why}`;
  }
  return undefined;
}
