// Coalesces many concurrent requests into few produce calls, and bounds what waits in memory.
// A request's records are queued with a promise that settles only when Kafka has acknowledged
// them (or refused them). At most `concurrency` produce calls are in flight: the sink gives each
// its own idempotent producer, which must not have two sends in flight. Records of one request go
// in one call. A full queue or an unhealthy broker refuses at once.
/** `topic`: the sink's own topic (beacons) when absent. */
export interface OutRecord {
  key: string;
  value: Uint8Array;
  events: number;
  topic?: string;
}
export type Refusal = 'queue_full' | 'broker_unavailable';
export type Enqueued = { ok: true; acked: Promise<void> } | { ok: false; reason: Refusal };

interface Entry {
  records: OutRecord[];
  events: number;
  bytes: number;
  resolve(): void;
  reject(err: unknown): void;
}

/** maxBatchBytes bounds one produce call, so no partition's batch exceeds the broker's message size. */
export interface ProduceQueueConfig {
  maxEvents: number;
  maxBytes: number;
  lingerMs: number;
  maxBatchBytes: number;
  concurrency: number;
}
export interface ProduceQueueDeps {
  send(records: OutRecord[]): Promise<void>;
  healthy(): boolean;
}

export function createProduceQueue(config: ProduceQueueConfig, deps: ProduceQueueDeps) {
  const pending: Entry[] = [];
  let pendingBytes = 0;
  let events = 0;
  let bytes = 0;
  const sending = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;

  // With no linger, a send takes what arrived in this turn of the event loop, and while every
  // producer is busy, requests gather for the next send: batches grow with the load by themselves.
  function schedule() {
    if (sending.size >= config.concurrency || pending.length === 0) return;
    if (pendingBytes >= config.maxBatchBytes) void flushOnce();
    else if (config.lingerMs === 0) immediate ??= setImmediate(() => void flushOnce());
    else timer ??= setTimeout(() => void flushOnce(), config.lingerMs);
  }

  async function flushOnce(): Promise<void> {
    clearTimeout(timer);
    clearImmediate(immediate);
    timer = undefined;
    immediate = undefined;
    if (sending.size >= config.concurrency || pending.length === 0) return;
    let n = 0;
    let take = 0;
    while (take < pending.length && (take === 0 || n + pending[take]!.bytes <= config.maxBatchBytes))
      n += pending[take++]!.bytes;
    const batch = pending.splice(0, take);
    pendingBytes -= n;
    const send: Promise<void> = deps
      .send(batch.flatMap((e) => e.records))
      .then(
        () => batch.forEach((e) => e.resolve()),
        (err: unknown) => batch.forEach((e) => e.reject(err)),
      )
      .finally(() => {
        for (const e of batch) {
          events -= e.events;
          bytes -= e.bytes;
        }
        sending.delete(send);
        schedule();
      });
    sending.add(send);
    schedule(); // more may go out at once while capacity is free
    await send;
  }

  return {
    enqueue(records: OutRecord[]): Enqueued {
      if (!deps.healthy()) return { ok: false, reason: 'broker_unavailable' };
      const e = records.reduce((s, r) => s + r.events, 0);
      const b = records.reduce((s, r) => s + r.value.byteLength + r.key.length, 0);
      if (events + e > config.maxEvents || bytes + b > config.maxBytes) return { ok: false, reason: 'queue_full' };
      events += e;
      bytes += b;
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const acked = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      pending.push({ records, events: e, bytes: b, resolve, reject });
      pendingBytes += b;
      schedule();
      return { ok: true, acked };
    },
    /** Sends everything queued now; for shutdown. */
    async drain(): Promise<void> {
      while (pending.length || sending.size) {
        if (pending.length && sending.size < config.concurrency) await flushOnce();
        else await Promise.race(sending);
      }
    },
    get depth() {
      return { events, bytes };
    },
  };
}
export type ProduceQueue = ReturnType<typeof createProduceQueue>;
