// What a data-path step returns: expected outcomes are values, not exceptions.
// ok -> continue; drop -> discard and count (e.g. a duplicate); dlq -> dead-letter with the reason;
// retry -> the same input may succeed later (a dependency is down).
export type Outcome<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'drop'; reason: string }
  | { kind: 'dlq'; reason: string }
  | { kind: 'retry'; reason: string };

export const ok = <T>(value: T): Outcome<T> => ({ kind: 'ok', value });
export const drop = (reason: string): Outcome<never> => ({ kind: 'drop', reason });
export const dlq = (reason: string): Outcome<never> => ({ kind: 'dlq', reason });
export const retry = (reason: string): Outcome<never> => ({ kind: 'retry', reason });
