// The beacon client SDK for Node 20+ and browsers: builds a BeaconBatch, signs it (HMAC-SHA256
// over t + "." + body, hmac.ts), posts it, and retries 429/503/network errors with exponential
// backoff and full jitter, honouring Retry-After. A retry re-signs with a fresh sent_at and t but
// keeps every event_id, so the pipeline counts the events once. 400/401/403/413/415 are never
// retried, but for a device clock off by more than the collector's ±300 s: a POST's 401 carries the
// collector's Date, and the request is signed again on the collector's clock (kept after); a
// stream ack carries no Date, so a refused frame goes once as a POST to learn it.
// The queue (queue.ts) builds on this: batching, persistence, flush on page leave.
import type { BeaconEvent } from '../../schemas/beacon-json.js';
import { encodeBatch, encodeBatchJson, encodeSignedBatch, EventType, unencodable } from '../../schemas/beacon-wire.js';
import { hmacSha256 } from './hmac.js';

export { EventType };
/** The SDKs' version, sent as `web/…`, `node/…` or `js/…` in each batch's `sdk`. */
export const SDK_VERSION = '0.2.0';
export type EventInput = Omit<BeaconEvent, 'eventId' | 'occurredAt'> & { eventId?: string; occurredAt?: number };

export interface BeaconClientConfig {
  endpoint: string;
  appId: string;
  keyId: string;
  secret: string;
  sdk?: string;
  format?: 'protobuf' | 'json';
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A request not answered in this long fails as a network error (default 30 s). */
  timeoutMs?: number;
}
/** The collector's answer to one request or stream frame. */
export interface Answer {
  status: number;
  body: {
    accepted?: number;
    rejected?: SendResult['rejected'];
    error?: string | undefined;
    message?: string | undefined;
  };
  retryAfterS: number;
  /** The collector's clock (HTTP only). */
  date?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
const isRejection = (r: unknown): r is SendResult['rejected'][number] =>
  isObject(r) && Number.isInteger(r.index) && typeof r.reason === 'string';

/**
 * An answer as the SDK can trust it, whatever came back (a proxy's page, a broken ack): a status
 * that is not an integer reads as 0 (nothing answered), a body that is not an object as {},
 * malformed `rejected` entries are left out, and a Retry-After that is not seconds reads as 0.
 */
export function answerOf(status: unknown, body: unknown, retryAfter: unknown, date?: number): Answer {
  const b = isObject(body) ? body : {};
  const seconds = Number(retryAfter);
  return {
    status: Number.isInteger(status) ? (status as number) : 0,
    body: {
      accepted: typeof b.accepted === 'number' ? b.accepted : 0,
      rejected: Array.isArray(b.rejected) ? b.rejected.filter(isRejection) : [],
      error: text(b.error),
      message: text(b.message),
    },
    retryAfterS: Number.isFinite(seconds) && seconds > 0 ? seconds : 0,
    ...(date !== undefined && { date }),
  };
}
export interface BeaconClientDeps {
  fetch?: typeof fetch;
  /** Sends each batch as a /v1/stream frame (a SignedBatch) instead of a POST; keepalive sends still POST. */
  stream?: (frame: Uint8Array) => Promise<Answer>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}
export interface SendResult {
  status: number;
  accepted: number;
  rejected: { index: number; reason: string }[];
  attempts: number;
}

export class BeaconError extends Error {
  override name = 'BeaconError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly attempts: number,
    /** The collector's Retry-After on a 429 or 503 (0: none). */
    readonly retryAfterS = 0,
  ) {
    super(message);
  }
}

const RETRIABLE = new Set([429, 500, 502, 503, 504]);
const CLOCK_ERRORS = new Set(['timestamp_too_old', 'timestamp_in_future']);
const encoder = new TextEncoder();
const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/** A random UUID (version 4), from getRandomValues: crypto.randomUUID is missing on a plain-http page. */
export function uuid(): string {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function createBeaconClient(config: BeaconClientConfig, deps: BeaconClientDeps = {}) {
  const doFetch = deps.fetch ?? globalThis.fetch;
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = deps.random ?? Math.random;
  const format = config.format ?? 'protobuf';
  const maxAttempts = config.maxAttempts ?? 5;
  const baseDelayMs = config.baseDelayMs ?? 200;
  const maxDelayMs = config.maxDelayMs ?? 10_000;
  const timeoutMs = config.timeoutMs ?? 30_000;
  let clockOffsetMs = 0; // the collector's clock minus ours, learnt from a refused timestamp
  const sign = hmacSha256(encoder.encode(config.secret));

  /** Synchronous, so a page's last flush starts its requests before its pagehide handler returns. */
  function signedRequest(events: BeaconEvent[], protobuf: boolean) {
    const t = now() + clockOffsetMs;
    const batch = { appId: config.appId, sdk: config.sdk ?? `js/${SDK_VERSION}`, sentAt: t, events };
    const body = protobuf ? encodeBatch(batch) : encoder.encode(encodeBatchJson(batch));
    const signed = new Uint8Array(encoder.encode(`${t}.`).length + body.length);
    signed.set(encoder.encode(`${t}.`));
    signed.set(body, signed.length - body.length);
    const sig = hex(sign(signed));
    return {
      t,
      sig,
      body,
      headers: {
        'content-type': protobuf ? 'application/x-protobuf' : 'application/json',
        'beacon-signature': `t=${t},k=${config.keyId},v1=${sig}`,
      },
    };
  }

  /**
   * One try, signed now and sent when called: a stream frame (protobuf, as frames carry), or a
   * POST. An event it cannot encode throws a TypeError here; the sending throws only when nothing
   * answered.
   */
  function prepare(events: BeaconEvent[], post: boolean, keepalive: boolean): () => Promise<Answer> {
    if (!post) {
      const req = signedRequest(events, true);
      const frame = encodeSignedBatch({ keyId: config.keyId, t: req.t, signature: req.sig, batch: req.body });
      return () => deps.stream!(frame);
    }
    const req = signedRequest(events, format === 'protobuf');
    return async () => {
      const res = await doFetch(`${config.endpoint}/v1/beacons`, {
        method: 'POST',
        headers: req.headers,
        body: req.body as Uint8Array<ArrayBuffer>, // our own buffers, never shared
        signal: AbortSignal.timeout(timeoutMs), // a keepalive's too: it fires only if the page stays
        ...(keepalive && { keepalive: true }),
      });
      const body: unknown = await res.json().catch(() => ({}));
      return answerOf(
        res.status,
        body,
        res.headers.get('retry-after'),
        Date.parse(res.headers.get('date') ?? '') || undefined,
      );
    };
  }

  return {
    /** A complete event: a fresh UUID and the current time unless given. Throws a TypeError for a field it cannot encode. */
    event(input: EventInput): BeaconEvent {
      const event = { ...input, eventId: input.eventId ?? uuid(), occurredAt: input.occurredAt ?? now() };
      const problem = unencodable(event);
      if (problem) throw new TypeError(`beacon event ${problem}`);
      return event;
    },

    /** Sends `events` in one batch; `keepalive` lets the request outlive the page (at most 64 KiB). */
    async send(events: BeaconEvent[], opts: { keepalive?: boolean } = {}): Promise<SendResult> {
      const problem = events.map(unencodable).find(Boolean);
      if (problem) throw new BeaconError(400, 'unencodable', problem, 0);
      const keepalive = opts.keepalive ?? false;
      let post = keepalive || !deps.stream;
      let clockFixed = false;
      for (let tries = 1; ; tries++) {
        let status = 0;
        let payload: Answer['body'] = {};
        let retryAfterS = 0;
        const send = prepare(events, post, keepalive);
        try {
          const a = await send();
          ({ status, retryAfterS, body: payload } = a);
          const clockRefused = status === 401 && CLOCK_ERRORS.has(payload.error ?? '');
          if (clockRefused && a.date && !clockFixed) {
            clockOffsetMs = a.date - now();
            clockFixed = true;
            tries--;
            continue;
          }
          if (clockRefused && !post) {
            post = true; // a stream ack has no Date: a POST's answer has
            tries--;
            continue;
          }
        } catch (err) {
          const cause = (err as { cause?: { code?: string; message?: string } }).cause; // fetch says only "fetch failed"
          payload = {
            error: 'network_error',
            message: [(err as Error).message, cause?.code ?? cause?.message].filter(Boolean).join(': '),
          };
        }
        if (status === 202)
          return { status, accepted: payload.accepted ?? 0, rejected: payload.rejected ?? [], attempts: tries };
        const retriable = status === 0 || RETRIABLE.has(status);
        if (!retriable || tries >= maxAttempts) {
          const message = payload.message ?? `HTTP ${status}`;
          throw new BeaconError(status, payload.error ?? 'unknown', message, tries, retryAfterS);
        }
        const backoff = random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (tries - 1));
        await sleep(Math.max(backoff, retryAfterS * 1000));
      }
    },
  };
}
export type BeaconClient = ReturnType<typeof createBeaconClient>;
