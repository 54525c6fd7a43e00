// The one way every consumer (Kafka steps, BullMQ jobs) handles a failure: poison is found out
// (`isolate` splits a failed step until the record at fault is alone) and set aside with its reason
// so the consumer moves on; a retriable fault is retried, and a consumer that keeps failing shows it.
import client from 'prom-client';
import { PipelineError } from './errors.js';
import { classify, type Fault } from './fault-codes.js';

export { classify, type Fault } from './fault-codes.js';

/**
 * Runs `run` over `items`. When it fails with poison, the items are split in halves and each half
 * runs on its own, until the item at fault is alone: it is returned with its fault, and every other
 * item is run. A retriable fault is thrown (the caller retries the whole step, so `run` must be
 * idempotent: a half that ran is run again). Results come in item order.
 *
 * With `allPoisonRetriable`, a step of several records that each fail alone is not set aside but
 * thrown as a retriable fault: when nothing passes, the fault is the deployment's (a column or a
 * check that the code and a migration disagree on), not every record's, and the consumer stalls
 * visibly instead of dead-lettering a whole partition.
 */
export async function isolate<T, R>(
  items: T[],
  run: (items: T[]) => Promise<R>,
  deps: { classify?(err: unknown): Fault; allPoisonRetriable?: boolean } = {},
): Promise<{ results: R[]; poison: { item: T; fault: Fault }[] }> {
  const sort = deps.classify ?? classify;
  const results: R[] = [];
  const poison: { item: T; fault: Fault }[] = [];
  async function visit(part: T[]): Promise<void> {
    if (part.length === 0) return;
    try {
      results.push(await run(part));
    } catch (err) {
      const fault = sort(err);
      if (fault.kind === 'retriable') throw err;
      if (part.length === 1) return void poison.push({ item: part[0]!, fault });
      const half = Math.ceil(part.length / 2);
      await visit(part.slice(0, half));
      await visit(part.slice(half));
    }
  }
  await visit(items);
  if (deps.allPoisonRetriable && items.length > 1 && poison.length === items.length) {
    throw new PipelineError(
      'every_record_refused',
      `all ${items.length} records of the step failed alone (${poison[0]!.fault.reason}): a deployment fault, retried`,
      { retriable: true, cause: poison[0]!.fault },
    );
  }
  return { results, poison };
}

/**
 * Counts each consumer's (a partition's, a queue's) consecutive failed attempts. Once one reaches
 * `stallAfter`, `stalled` is true (readiness answers 503, the gauge reads 1) until it succeeds.
 * Metrics: `<service>_consumer_failures_total{kind}` and `<service>_consumer_stalled`.
 */
export function createFailureTracker(
  config: { service: string; stallAfter: number },
  deps: { registry: client.Registry },
) {
  const failures = new client.Counter({
    name: `${config.service}_consumer_failures_total`,
    help: 'Consumer failures: retriable faults (retried) and poison records or jobs (set aside)',
    labelNames: ['kind'],
    registers: [deps.registry],
  });
  const gauge = new client.Gauge({
    name: `${config.service}_consumer_stalled`,
    help: '1 while a consumer has failed stallAfter times in a row',
    registers: [deps.registry],
  });
  for (const kind of ['retriable', 'poison']) failures.inc({ kind }, 0);
  gauge.set(0);
  const consecutive = new Map<string, number>();
  const update = () => gauge.set([...consecutive.values()].some((n) => n >= config.stallAfter) ? 1 : 0);
  return {
    /** A failed attempt of `key`'s work (its data not set aside, so it will be retried). */
    failed(key: string, err: unknown): Fault {
      const fault = classify(err);
      failures.inc({ kind: fault.kind });
      consecutive.set(key, (consecutive.get(key) ?? 0) + 1);
      update();
      return fault;
    },
    /** `n` records or jobs set aside as poison: the consumer moved on. */
    poisoned(n = 1): void {
      if (n > 0) failures.inc({ kind: 'poison' }, n);
    },
    succeeded(key: string): void {
      if (consecutive.delete(key)) update();
    },
    /** Forgets the partitions (keys `<topic>:<partition>`) not in a new assignment; other keys stay. */
    retain(assignment: Record<string, number[]>): void {
      for (const key of consecutive.keys()) {
        const at = key.lastIndexOf(':');
        if (at > 0 && !(assignment[key.slice(0, at)] ?? []).includes(Number(key.slice(at + 1))))
          consecutive.delete(key);
      }
      update();
    },
    get stalled(): boolean {
      return [...consecutive.values()].some((n) => n >= config.stallAfter);
    },
  };
}
export type FailureTracker = ReturnType<typeof createFailureTracker>;

/**
 * A queue job's work under the tracker: poison is thrown as `unrecoverable(reason)` (BullMQ's
 * UnrecoverableError: the job goes to the failed set with its reason, never retried); a retriable
 * fault is thrown as it is, so the queue's backoff retries it.
 */
export async function trackJob<R>(
  tracker: FailureTracker,
  key: string,
  work: () => Promise<R>,
  unrecoverable: (reason: string) => Error,
  opts: { scheduled?: boolean } = {},
): Promise<R> {
  try {
    const result = await work();
    tracker.succeeded(key);
    return result;
  } catch (err) {
    const fault = classify(err);
    // A scheduled job (forming batches, a sweep) carries no record to set aside: its poison fails
    // every run alike, so it counts towards the stall, or payouts would halt with no signal.
    if (fault.kind === 'poison' && opts.scheduled) {
      tracker.failed(key, err);
      throw unrecoverable(fault.reason);
    }
    if (fault.kind === 'poison') {
      tracker.poisoned(1);
      throw unrecoverable(fault.reason);
    }
    tracker.failed(key, err);
    throw err;
  }
}
