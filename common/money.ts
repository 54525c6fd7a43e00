// Money as every service holds it: integer fen behind one branded bigint, never a float. Services
// convert only at their edges: fen(x) where a Postgres row or WeChat's JSON/XML comes in, Number(x)
// where JSON goes out (JSON.stringify throws on a bigint).

/** Integer minor units (fen for CNY). Never a float. */
export type Fen = bigint & { readonly __brand: 'Fen' };

/** `n` as Fen; throws on a negative amount (a difference that may go below zero is a plain bigint) or a fraction. */
export function fen(n: bigint | number | string): Fen {
  const v = BigInt(n);
  if (v < 0n) throw new RangeError(`negative amount ${v}`);
  return v as Fen;
}
