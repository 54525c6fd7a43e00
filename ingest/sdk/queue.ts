// The SDK's delivery queue, the same in browsers and Node. An event is stored, with its id, the
// moment it is tracked; it leaves the store only when the collector took it (202, or a per-event
// rejection, which no retry changes) or refused its batch for good (400, 401, 403, 413 for a lone
// event, 415), or when it cannot be encoded at all. A network error, a timeout, 429, 5xx or any
// other answer keeps the batch and backs off (exponential, full jitter, Retry-After honoured); a
// 413 for several events splits them. So a reload, a restart or an hour offline loses nothing,
// and since an event keeps its id on every try, the pipeline counts it once even when two tabs
// send it.
import type { BeaconEvent } from '../../schemas/beacon-json.js';
import { unencodable } from '../../schemas/beacon-wire.js';
import { BeaconError, type SendResult } from './client.js';

/** Where queued events live: IndexedDB in a browser (browser.ts), a file in Node (storage-file.ts). */
export interface QueueStorage {
  /** Every stored event, oldest first. */
  all(): Promise<BeaconEvent[]>;
  add(events: BeaconEvent[]): Promise<void>;
  remove(eventIds: string[]): Promise<void>;
}

/** A store that lasts as long as the page or process: where nothing lasting is available. */
export function memoryStorage(): QueueStorage {
  const live = new Map<string, BeaconEvent>();
  return {
    all: async () => [...live.values()],
    add: async (events) => void events.forEach((e) => live.set(e.eventId!, e)),
    remove: async (ids) => void ids.forEach((id) => live.delete(id)),
  };
}

export interface QueueConfig {
  /** Send as soon as this many events wait (default 20). */
  flushAt?: number;
  /** Else send what waits this long after the first of them (default 5 s). */
  flushIntervalMs?: number;
  /** Events per request (default 100; the contract allows 500). */
  maxBatch?: number;
  /** Events kept while the collector cannot be reached; past it the oldest are dropped (default 1,000). */
  maxQueued?: number;
  /** Backoff after a failed send (defaults 1 s doubling to 5 min). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Events older than this are dropped unsent: the collector refuses events 7 days old (default 6 days). */
  maxAgeMs?: number;
}

export interface QueueDeps {
  send(events: BeaconEvent[], opts: { keepalive?: boolean }): Promise<SendResult>;
  storage: QueueStorage;
  now?: () => number;
  random?: () => number;
  /** Told of events that leave the queue unsent or refused, with the reason. */
  onDrop?: (events: BeaconEvent[], reason: string) => void;
  /** Told of each batch the collector took (202), with its answer. */
  onSend?: (events: BeaconEvent[], result: SendResult) => void;
}

const PERMANENT = new Set([400, 401, 403, 413, 415]);
// The collector takes bodies up to 256 KiB (CONTRACTS §1). Sizes are an event's JSON in UTF-8
// bytes, a little more than either encoding of it, plus room for the batch's own fields.
const MAX_BATCH_BYTES = 200_000;
const BATCH_BYTES = 512;
const utf8 = new TextEncoder();
const sizes = new WeakMap<BeaconEvent, number>(); // measured once: a batch is formed again after each failure
function sizeOf(e: BeaconEvent): number {
  let size = sizes.get(e);
  if (size === undefined) sizes.set(e, (size = utf8.encode(JSON.stringify(e)).length + 32));
  return size;
}
// The keepalive requests a page has in flight may carry 64 KiB of bodies together (the Fetch
// standard): past that a browser refuses them, so a page's last flush stays under it in all.
const KEEPALIVE_BYTES = 60_000;
const KEEPALIVE_BATCH = 100;

// A store that does not answer in this long (Safari's IndexedDB can hang) is passed by: the queue
// goes on in memory.
const STORE_WAIT_MS = 3_000;
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once past it

/** `work`'s result, or undefined when it fails or takes longer than STORE_WAIT_MS. */
function within<T>(work: Promise<T>): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), STORE_WAIT_MS);
    (timer as { unref?: () => void }).unref?.();
  });
  return Promise.race([work.catch(() => undefined), late]).finally(() => clearTimeout(timer));
}

/** Calls an app's callback; one that throws is reported and changes nothing in the queue. */
function notify<A extends unknown[]>(callback: ((...args: A) => void) | undefined, ...args: A): void {
  try {
    callback?.(...args);
  } catch (err) {
    console.error('ads-sdk: a callback threw', err);
  }
}

export function createQueue(config: QueueConfig, deps: QueueDeps) {
  const flushAt = config.flushAt ?? 20;
  const flushIntervalMs = config.flushIntervalMs ?? 5_000;
  const maxBatch = Math.min(config.maxBatch ?? 100, 500);
  const maxQueued = config.maxQueued ?? 1_000;
  const baseDelayMs = config.baseDelayMs ?? 1_000;
  const maxDelayMs = config.maxDelayMs ?? 300_000;
  const maxAgeMs = config.maxAgeMs ?? 6 * 86_400_000;
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const drop = (events: BeaconEvent[], reason: string) => events.length && notify(deps.onDrop, events, reason);

  let pending: BeaconEvent[] = [];
  const inFlight = new Set<string>(); // in a regular request
  const leaving = new Set<string>(); // in a keepalive request
  const idle = (e: BeaconEvent) => !inFlight.has(e.eventId!) && !leaving.has(e.eventId!);
  let keepaliveBytes = 0; // the bodies of the keepalive requests in flight
  let batchBytes = MAX_BATCH_BYTES; // halved by each 413 for several events
  let failures = 0;
  let notBefore = 0; // no timed flush before this time (backoff)
  let timer: ReturnType<typeof setTimeout> | undefined;
  let flushing: Promise<void> | undefined;
  let closed = false;

  // A store that fails or hangs (a private window's IndexedDB, a full disk) leaves the queue in
  // memory: the events still go, they only would not outlive the page or process.
  // A stored event no encoding can carry (an older SDK's, a store changed by hand) is dropped here,
  // the one way into the queue that does not come through client.event(), which refuses them.
  const loaded = within(deps.storage.all()).then((stored = []) => {
    const known = new Set(pending.map((e) => e.eventId));
    const unfit = stored.filter((e) => {
      const problem = unencodable(e);
      if (problem) drop([e], `unencodable: ${problem}`);
      return problem;
    });
    if (unfit.length) void within(deps.storage.remove(unfit.map((e) => e.eventId!)));
    const left = stored.filter((e) => !known.has(e.eventId) && !unfit.includes(e)); // by an earlier page or process
    pending = [...left, ...pending];
    if (left.length) schedule(0);
  });

  /** Arms the flush timer for `ms` from now (or the end of the backoff), unless one fires sooner. */
  function schedule(ms: number) {
    if (closed) return;
    const at = Math.max(now() + ms, notBefore);
    if (timer) clearTimeout(timer);
    timer = setTimeout(
      () => {
        timer = undefined;
        void run();
      },
      Math.min(Math.max(at - now(), 0), MAX_TIMER_MS),
    );
    (timer as { unref?: () => void }).unref?.(); // in Node the queue never keeps a process alive
  }

  function remove(events: BeaconEvent[]): Promise<void> {
    const ids = new Set(events.map((e) => e.eventId!));
    pending = pending.filter((e) => !ids.has(e.eventId!));
    return within(deps.storage.remove([...ids])).then(() => undefined); // a copy left stored is sent again: counted once
  }

  /** Sends one batch (nextBatch marked it in flight); false when it must wait (a retriable failure). */
  async function sendBatch(batch: BeaconEvent[], bytes: number, keepalive: boolean): Promise<boolean> {
    let result: SendResult | Error;
    try {
      result = await deps.send(batch, { keepalive });
    } catch (err) {
      result = err instanceof Error ? err : new Error(String(err));
    } finally {
      for (const e of batch) (keepalive ? leaving : inFlight).delete(e.eventId!);
    }
    if (!(result instanceof Error)) {
      notify(deps.onSend, batch, result);
      for (const r of result.rejected) if (batch[r.index]) drop([batch[r.index]!], r.reason);
    } else if (result instanceof BeaconError && result.status === 413 && batch.length > 1) {
      batchBytes = BATCH_BYTES + Math.floor((bytes - BATCH_BYTES) / 2); // the same events again, half at a time
      return true;
    } else if (!(result instanceof BeaconError) || !PERMANENT.has(result.status)) {
      // failed or unanswered; or the SDK's own fault, which may pass: wait, and try again
      const retryAfterMs = result instanceof BeaconError ? result.retryAfterS * 1000 : 0;
      failures++;
      const backoff = random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (failures - 1));
      notBefore = now() + Math.max(backoff, Math.min(retryAfterMs, maxDelayMs));
      return false;
    } else {
      drop(batch, result.code); // refused for good: no retry would change it
    }
    await remove(batch);
    failures = 0;
    notBefore = 0;
    return true;
  }

  /**
   * The next batch to send: waiting events in no request (a keepalive batch also takes those of a
   * regular request, which a closing page cancels), up to `limit` events and `maxBytes`. It is
   * marked in flight at once, so a flush that runs beside this one takes others. Expired events are
   * dropped on the way.
   */
  function nextBatch(limit: number, maxBytes: number, keepalive: boolean) {
    const expired = pending.filter((e) => idle(e) && Number(e.occurredAt) < now() - maxAgeMs); // in a request: its answer decides
    if (expired.length) {
      drop(expired, 'expired');
      void remove(expired);
    }
    const batch: BeaconEvent[] = [];
    let bytes = BATCH_BYTES;
    for (const e of pending) {
      if (batch.length >= limit) break;
      if (keepalive ? leaving.has(e.eventId!) : !idle(e)) continue;
      const size = sizeOf(e);
      if (bytes + size > maxBytes && keepalive) continue; // a smaller one may still fit the quota
      if (bytes + size > maxBytes && batch.length) break;
      bytes += size;
      batch.push(e);
    }
    for (const e of batch) (keepalive ? leaving : inFlight).add(e.eventId!);
    return { batch, bytes };
  }

  /** Sends everything that waits, batch by batch, until done or a send must wait. */
  function run(): Promise<void> {
    flushing ??= runNow().finally(() => (flushing = undefined));
    return flushing;
  }

  async function runNow() {
    await loaded;
    if (now() < notBefore) return schedule(0);
    for (;;) {
      const { batch, bytes } = nextBatch(maxBatch, batchBytes, false);
      if (!batch.length) return void (batchBytes = MAX_BATCH_BYTES); // a split lasts for one backlog
      if (!(await sendBatch(batch, bytes, false))) return schedule(0);
    }
  }

  /**
   * The page is going away: what waits goes now, in keepalive requests, whatever the backoff, up to
   * the keepalive quota (what does not fit waits for the next page, as does what the page had
   * stored but not loaded yet). All of them start before this returns, since nothing after the
   * page's last event handler is sure to run (the client signs synchronously for this). Should the
   * page stay after all (hidden, then shown), a timed flush follows them.
   */
  function leave(): void {
    for (;;) {
      const { batch, bytes } = nextBatch(KEEPALIVE_BATCH, KEEPALIVE_BYTES - keepaliveBytes, true);
      if (!batch.length) return;
      keepaliveBytes += bytes;
      void sendBatch(batch, bytes, true).finally(() => {
        keepaliveBytes -= bytes;
        if (pending.length) schedule(0);
      });
    }
  }

  return {
    /** Queues `event` (stored before this resolves) and sends it within flushIntervalMs, or at once past flushAt. */
    async push(event: BeaconEvent): Promise<void> {
      pending.push(event);
      const excess = pending.length - maxQueued;
      if (excess > 0) {
        const oldest = pending.filter(idle).slice(0, excess); // what is in a request waits for its answer
        drop(oldest, 'queue_full');
        void remove(oldest);
      }
      await within(deps.storage.add([event]));
      if (pending.length >= flushAt) void run();
      else if (!timer) schedule(flushIntervalMs);
    },
    /** Sends what waits now, whatever the backoff (the app knows the network is back). */
    flush(): Promise<void> {
      notBefore = 0;
      return run();
    },
    leave,
    /** Events waiting (stored, not yet taken by the collector). */
    get size() {
      return pending.length;
    },
    /** Stops the timer; what waits stays stored for the next start. */
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}
export type Queue = ReturnType<typeof createQueue>;
