// The collector's request pipeline, independent of the HTTP server: signature -> decode -> limits
// -> rate limits -> enrich -> one Kafka record per user -> 202 only after Kafka acknowledged them.
// Every refusal is a status with a reason; nothing here throws for bad input.
import { beacon, pipeline } from '../schemas/gen/messages.js';
import type { Origins } from './cors.js';
import { decodeBody } from './decode.js';
import type { Enrichment } from './enrich.js';
import type { ProduceQueue, OutRecord } from './produce-queue.js';
import type { createRateLimiter } from './rate-limit.js';
import { verifySignature, type KeyLookup } from './signature.js';
import { validateBatch, type AcceptedEvent, type Limits } from './validate.js';

// The metric's label is the field a reason names. Reasons can carry text the client chose (a JSON
// field name it made up), so only the contract's field names become labels: anyone holding an app
// key could otherwise grow the label set without bound.
const FIELD_LABELS = new Set([
  'event',
  'event_id',
  'type',
  'occurred_at',
  'user_id',
  'device_id',
  'campaign_id',
  'creative_id',
  'placement_id',
  'click_id',
  'value_micros',
  'currency',
  'attrs',
  'protobuf',
]);
export const reasonLabel = (reason: string) => {
  const field = reason.split(/[:.]/, 1)[0]!;
  return FIELD_LABELS.has(field) ? field : 'malformed';
};

export interface BeaconRequest {
  contentType?: string;
  signature?: string;
  body: Uint8Array;
  ip: string;
  userAgent: string;
  /** The Origin header of a browser's request ('' or absent: not a browser's). */
  origin?: string;
}
export interface BeaconResponse {
  status: number;
  body: Record<string, unknown>;
  retryAfterS?: number;
  /** More response headers (CORS). */
  headers?: Record<string, string>;
}

export interface CollectorMetrics {
  response(status: number, error: string): void;
  eventsAccepted(n: number): void;
  eventsRejected(reason: string, n: number): void;
}
export interface RejectionSample {
  status: number;
  error: string;
  appId: string;
  keyId: string;
  receivedAt: number;
  body: Uint8Array;
}

export interface CollectorDeps {
  keys: KeyLookup;
  origins: Pick<Origins, 'allows'>;
  queue: ProduceQueue;
  enrich(ip: string, ua: string): Enrichment;
  appLimiter: ReturnType<typeof createRateLimiter>;
  deviceLimiter: ReturnType<typeof createRateLimiter>;
  metrics: CollectorMetrics;
  audit(sample: RejectionSample): void;
  now(): number;
}

const BROKER_RETRY_AFTER_S = 2;

export function createCollector(config: { limits: Limits; signatureToleranceMs: number }, deps: CollectorDeps) {
  const fail = (status: number, error: string, message: string, retryAfterS?: number): BeaconResponse => ({
    status,
    body: { error, message },
    ...(retryAfterS ? { retryAfterS } : {}),
  });

  // An AcceptedBeacons record: the request's fields once, then each event as field 11
  // (AcceptedEvent: 1 = the Event's bytes as the device sent them, 2 = event_time), so protobuf
  // input is never re-encoded. Identical on the wire to encoding the whole message.
  function toRecords(
    accepted: AcceptedEvent[],
    raw: Uint8Array[] | undefined,
    meta: pipeline.v1.AcceptedBeacons.$Properties,
  ): OutRecord[] {
    const byUser = new Map<string, AcceptedEvent[]>();
    for (const a of accepted) {
      const list = byUser.get(a.event.userId!);
      if (list) list.push(a);
      else byUser.set(a.event.userId!, [a]);
    }
    return [...byUser].map(([userId, list]) => {
      const w = pipeline.v1.AcceptedBeacons.encode(meta);
      for (const a of list) {
        const bytes = raw && !a.normalized ? raw[a.index]! : beacon.v1.Event.encode(a.event).finish();
        w.uint32(90).fork().uint32(10).bytes(bytes).uint32(16).int64(a.eventTime).ldelim();
      }
      return { key: userId, events: list.length, value: w.finish() };
    });
  }

  /** A request refused as invalid (not for load: 429 and 503 are not audited), sampled for audit. */
  function refuse(
    req: BeaconRequest,
    receivedAt: number,
    status: number,
    error: string,
    message: string,
    ids: { appId?: string; keyId?: string } = {},
  ) {
    deps.audit({ status, error, appId: ids.appId ?? '', keyId: ids.keyId ?? '', receivedAt, body: req.body });
    return fail(status, error, message);
  }

  async function handle(req: BeaconRequest): Promise<BeaconResponse> {
    const receivedAt = deps.now();
    const sig = verifySignature(req.signature, req.body, receivedAt, deps.keys, config.signatureToleranceMs);
    if (!sig.ok)
      return refuse(req, receivedAt, 401, sig.error, 'the Beacon-Signature header does not authenticate this body');
    if (req.origin && !deps.origins.allows(sig.appId, req.origin)) {
      const why = `app ${sig.appId} has not registered origin ${req.origin} (npm run apps -- origin)`;
      return refuse(req, receivedAt, 403, 'origin_not_allowed', why, sig);
    }

    const decoded = decodeBody(req.contentType, req.body);
    if (!decoded.ok) return refuse(req, receivedAt, decoded.status, decoded.error, decoded.message, sig);

    const v = validateBatch(decoded.batch, sig.appId, receivedAt, config.limits);
    if (!v.ok) return refuse(req, receivedAt, v.status, v.error, v.message, sig);
    for (const r of v.rejected) deps.metrics.eventsRejected(reasonLabel(r.reason), 1);
    if (v.accepted.length === 0) return { status: 202, body: { accepted: 0, rejected: v.rejected } };

    const appWait = deps.appLimiter.take(sig.appId, v.accepted.length, receivedAt);
    if (appWait) return fail(429, 'app_rate_limited', `app ${sig.appId} is over its event rate`, appWait);
    for (const device of new Set(v.accepted.map((a) => a.event.deviceId!))) {
      const wait = deps.deviceLimiter.take(`${sig.appId}/${device}`, 1, receivedAt);
      if (wait) return fail(429, 'device_rate_limited', `device ${device} is over its request rate`, wait);
    }

    const e = deps.enrich(req.ip, req.userAgent);
    const records = toRecords(v.accepted, decoded.batch.raw, {
      version: 1,
      appId: sig.appId,
      sdk: decoded.batch.sdk,
      keyId: sig.keyId,
      sentAt: decoded.batch.sentAt,
      receivedAt,
      ipHash: e.ipHash,
      uaClass: e.uaClass,
      country: '',
      invalidReason: e.invalidReason,
    });
    const queued = deps.queue.enqueue(records);
    if (!queued.ok) {
      return fail(
        503,
        queued.reason,
        queued.reason === 'queue_full'
          ? 'the collector is at capacity; retry later'
          : 'the event broker is unavailable; retry later',
        BROKER_RETRY_AFTER_S,
      );
    }
    try {
      await queued.acked;
    } catch {
      return fail(
        503,
        'broker_unavailable',
        'the event broker did not acknowledge the events; retry later',
        BROKER_RETRY_AFTER_S,
      );
    }
    deps.metrics.eventsAccepted(v.accepted.length);
    return { status: 202, body: { accepted: v.accepted.length, rejected: v.rejected } };
  }

  return {
    async handle(req: BeaconRequest): Promise<BeaconResponse> {
      const res = await handle(req);
      deps.metrics.response(res.status, (res.body.error as string | undefined) ?? '');
      return res;
    },
  };
}
export type Collector = ReturnType<typeof createCollector>;
