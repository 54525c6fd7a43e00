// Loads the one-statement .sql files that hold a service's storage operations (see STYLE.md).
import { readFileSync } from 'node:fs';

/** Reads `<dir>/<name>.sql` once; `dir` is a file URL such as new URL('./sql/', import.meta.url). */
export function loadSql<N extends string>(dir: URL, names: readonly N[]): Record<N, string> {
  return Object.fromEntries(names.map((n) => [n, readFileSync(new URL(`${n}.sql`, dir), 'utf8')])) as Record<N, string>;
}
