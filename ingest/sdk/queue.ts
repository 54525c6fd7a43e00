// The SDK's delivery queue, the same in browsers and Node. An event is stored, with its id, the
// moment it is tracked; it leaves the store only when the collector took it (202, or a per-event
// rejection, which no retry changes) or refused its batch for good (400, 401, 403, 413, 415). A
// network error, 429 or 5xx keeps the batch and backs off (exponential, full jitter, Retry-After
// honoured). So a reload, a restart or an hour offline loses nothing, and since an event keeps its
// id on every try, the pipeline counts it once even when two tabs send it.
import type { BeaconEvent } from '../../schemas/beacon-json.js';
import { BeaconError, type SendResult } from './client.js';

/** Where queued events live: IndexedDB in a browser (storage-browser.ts), a file in Node (storage-file.ts). */
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

// A keepalive request may carry at most 64 KiB (the Fetch standard); a batch of events averages
// well under 500 bytes, so a page's last flush sends at most this many per request.
const KEEPALIVE_BATCH = 100;
const KEEPALIVE_BYTES = 60_000;

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
  const drop = (events: BeaconEvent[], reason: string) => events.length && deps.onDrop?.(events, reason);

  let pending: BeaconEvent[] = [];
  const inFlight = new Set<string>();
  let failures = 0;
  let notBefore = 0; // no regular flush before this time (backoff)
  let timer: ReturnType<typeof setTimeout> | undefined;
  let flushing: Promise<void> | undefined;
  let closed = false;

  // A store that fails (a private window's IndexedDB, a full disk) leaves the queue in memory: the
  // events still go, they only would not outlive the page or process.
  const lost = () => undefined;
  const loaded = deps.storage.all().then((stored) => {
    const known = new Set(pending.map((e) => e.eventId));
    const left = stored.filter((e) => !known.has(e.eventId)); // by an earlier page or process
    pending = [...left, ...pending];
    if (left.length) schedule(0);
  }, lost);

  /** Arms the flush timer for `ms` from now (or the end of the backoff), unless one fires sooner. */
  function schedule(ms: number) {
    if (closed) return;
    const at = Math.max(now() + ms, notBefore);
    if (timer) clearTimeout(timer);
    timer = setTimeout(
      () => {
        timer = undefined;
        void flush();
      },
      Math.max(at - now(), 0),
    );
  }

  function remove(events: BeaconEvent[]): Promise<void> {
    const ids = new Set(events.map((e) => e.eventId!));
    pending = pending.filter((e) => !ids.has(e.eventId!));
    return deps.storage.remove([...ids]).catch(lost); // a copy left stored is sent again: counted once
  }

  /** Sends one batch (nextBatch marked it in flight); false when it must wait (a retriable failure). */
  async function sendBatch(batch: BeaconEvent[], keepalive: boolean): Promise<boolean> {
    try {
      const res = await deps.send(batch, { keepalive });
      deps.onSend?.(batch, res);
      for (const r of res.rejected) drop([batch[r.index]!], r.reason);
      await remove(batch);
      failures = 0;
      notBefore = 0;
      return true;
    } catch (err) {
      if (err instanceof BeaconError && err.status !== 0 && err.status !== 429 && err.status < 500) {
        drop(batch, err.code); // refused for good: no retry would change it
        await remove(batch);
        return true;
      }
      failures++;
      const retryAfterMs = err instanceof BeaconError ? err.retryAfterS * 1000 : 0;
      const backoff = random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (failures - 1));
      notBefore = now() + Math.max(backoff, retryAfterMs);
      return false;
    } finally {
      for (const e of batch) inFlight.delete(e.eventId!);
    }
  }

  /**
   * The next batch to send: waiting events not in flight, the expired dropped. It is marked in
   * flight at once, so a flush that runs beside this one (the page hidden, then gone) takes others.
   */
  function nextBatch(limit: number, maxBytes: number) {
    const expired = pending.filter((e) => Number(e.occurredAt) < now() - maxAgeMs);
    if (expired.length) {
      drop(expired, 'expired');
      void remove(expired);
    }
    const batch: BeaconEvent[] = [];
    let bytes = 0;
    for (const e of pending) {
      if (batch.length >= limit) break;
      if (inFlight.has(e.eventId!)) continue;
      bytes += JSON.stringify(e).length;
      if (batch.length && bytes > maxBytes) break;
      batch.push(e);
    }
    for (const e of batch) inFlight.add(e.eventId!);
    return batch;
  }

  /** Sends everything that waits, batch by batch, until done or a send must wait. */
  function flush(): Promise<void> {
    flushing ??= flushNow().finally(() => (flushing = undefined));
    return flushing;
  }

  async function flushNow() {
    await loaded;
    if (now() < notBefore) return schedule(0);
    for (;;) {
      const batch = nextBatch(maxBatch, Infinity);
      if (!batch.length) return;
      if (!(await sendBatch(batch, false))) return schedule(0);
    }
  }

  /**
   * The page is going away: every waiting event goes now, in keepalive requests, whatever the
   * backoff. All of them start before this returns, since nothing after the page's last event
   * handler is sure to run (the client signs synchronously for this). What a page had stored but
   * not loaded yet waits for the next page.
   */
  function leave(): void {
    for (;;) {
      const batch = nextBatch(KEEPALIVE_BATCH, KEEPALIVE_BYTES);
      if (!batch.length) return;
      void sendBatch(batch, true);
    }
  }

  return {
    /** Queues `event` (stored before this resolves) and sends it within flushIntervalMs, or at once past flushAt. */
    async push(event: BeaconEvent): Promise<void> {
      pending.push(event);
      await deps.storage.add([event]).catch(lost);
      const excess = pending.length - maxQueued;
      if (excess > 0) {
        const oldest = pending.slice(0, excess);
        drop(oldest, 'queue_full');
        await remove(oldest);
      }
      if (pending.length >= flushAt) void flush();
      else if (!timer) schedule(flushIntervalMs);
    },
    flush,
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
