// The ledger's idempotency keys, shared by the service that posts (rewards) and the one that looks for
// what was posted (payouts, finding hand-offs a crash dropped): one spelling of one key.

/**
 * An idempotency key built from parts that come from outside (user ids, Idempotency-Key headers,
 * campaign ids, references), as a JSON array: no part can move a boundary, so user "a:b" with key
 * "c" and user "a" with key "b:c" get two keys. rewards/README.md "Idempotency keys" has the older form.
 */
export const idempotencyKey = (...parts: string[]): string => JSON.stringify(parts);
