// How an ad network or an advertiser's server delivers a callback: after the plan's delay, `copies`
// times in a row (a network that resends what it already delivered), or never when dropped; each
// copy retried with exponential backoff (or the server's Retry-After) on 5xx, 429 or no answer, and
// given up on a 4xx or after `maxAttempts`. Counted, so the demo knows when all were delivered.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../common/log.js';

/** What the traffic asks of one callback. */
export interface Plan {
  delayMs: number;
  copies: number;
  drop: boolean;
}
export const defaultPlan: Plan = { delayMs: 0, copies: 1, drop: false };

/** One HTTP request of a callback; built again for every attempt (a postback is signed at send time). */
export interface Outgoing {
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
}
export const defaultRetry: RetryPolicy = { maxAttempts: 20, baseDelayMs: 500, maxDelayMs: 15_000, timeoutMs: 10_000 };

export interface DeliveryStats {
  /** Callbacks asked for. */
  callbacks: number;
  /** Callbacks never sent (plan.drop). */
  dropped: number;
  /** Copies sent (each once, whatever its retries); `duplicated` of them beyond a callback's first. */
  sent: number;
  duplicated: number;
  /** Copies answered 2xx; copies refused (4xx) or given up on. */
  delivered: number;
  failed: number;
  /** Attempts after a 5xx, a 429 or no answer. */
  retries: number;
  /** Copies waiting for their delay or in flight. */
  pending: number;
  /** Final answers by HTTP status ('none' when nothing ever answered). */
  byStatus: Record<string, number>;
}

export function createDeliveries(config: RetryPolicy, deps: { fetch: typeof fetch; log: Logger }) {
  const log = deps.log.child({ mod: 'deliveries' });
  const stats: DeliveryStats = {
    callbacks: 0,
    dropped: 0,
    sent: 0,
    duplicated: 0,
    delivered: 0,
    failed: 0,
    retries: 0,
    pending: 0,
    byStatus: {},
  };
  const stopping = new AbortController();
  let idle: (() => void)[] = [];

  const backoffMs = (attempt: number, retryAfter: string | null) => {
    const asked = retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : 0;
    return Math.min(config.maxDelayMs, Math.max(asked, config.baseDelayMs * 2 ** (attempt - 1)));
  };

  /** One copy, retried until answered with something other than 5xx/429: its final status. */
  async function deliverCopy(what: string, request: () => Outgoing): Promise<number | 'none'> {
    for (let attempt = 1; ; attempt++) {
      const out = request();
      const res = await deps
        .fetch(out.url, {
          method: out.method,
          headers: out.headers,
          body: out.body,
          signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(config.timeoutMs)]),
        })
        .catch(() => undefined);
      await res?.arrayBuffer().catch(() => undefined);
      const retriable = !res || res.status >= 500 || res.status === 429;
      if (!retriable || attempt >= config.maxAttempts || stopping.signal.aborted) {
        if (retriable) log.warn({ what, attempts: attempt, status: res?.status }, 'callback_given_up');
        return res?.status ?? 'none';
      }
      stats.retries++;
      await sleep(backoffMs(attempt, res?.headers.get('retry-after') ?? null), undefined, {
        signal: stopping.signal,
      }).catch(() => undefined);
    }
  }

  async function run(what: string, plan: Plan, request: () => Outgoing) {
    try {
      if (plan.delayMs > 0) await sleep(plan.delayMs, undefined, { signal: stopping.signal }).catch(() => undefined);
      for (let copy = 0; copy < plan.copies; copy++) {
        stats.sent++;
        if (copy > 0) stats.duplicated++;
        const status = stopping.signal.aborted ? 'none' : await deliverCopy(what, request);
        stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1;
        if (typeof status === 'number' && status >= 200 && status < 300) stats.delivered++;
        else {
          stats.failed++;
          log.warn({ what, status }, 'callback_failed');
        }
        stats.pending--;
      }
    } finally {
      if (stats.pending === 0) for (const resolve of idle.splice(0)) resolve();
    }
  }

  return {
    /** Schedules one callback by its plan; returns at once. */
    schedule(what: string, plan: Plan, request: () => Outgoing): void {
      stats.callbacks++;
      if (plan.drop) {
        stats.dropped++;
        return;
      }
      stats.pending += plan.copies;
      void run(what, plan, request);
    },
    stats: (): DeliveryStats => ({ ...stats, byStatus: { ...stats.byStatus } }),
    /** Resolves once nothing is waiting or in flight. */
    idle: () => (stats.pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => void idle.push(resolve))),
    /** Stops waiting and retrying; what is in flight ends as failed. */
    async stop() {
      stopping.abort();
      await this.idle();
      idle = [];
    },
  };
}
