// Enforces every limit of the beacon contract. A bad batch-level field rejects the request; a bad
// event rejects only that event, by index. Accepted events get their skew-corrected time:
// event_time = occurred_at + (received_at - sent_at), the correction clamped to ±maxSkewMs.
import { EventType, type BeaconEvent } from '../schemas/beacon-json.js';
import type { DecodedBatch } from './decode.js';
import { isUuid } from '../common/name-uuid.js';
import { textProblem } from './text-problem.js';

export interface Limits {
  maxEvents: number;
  maxSkewMs: number;
  maxAgeMs: number;
  maxFutureMs: number;
}
export const contractLimits: Limits = {
  maxEvents: 500,
  maxSkewMs: 7 * 86_400_000,
  maxAgeMs: 7 * 86_400_000,
  maxFutureMs: 600_000,
};

/** `index` is the event's position in the batch; `normalized` when its event_id was lowercased. */
export interface AcceptedEvent {
  event: BeaconEvent;
  eventTime: number;
  index: number;
  normalized: boolean;
}
export type Validated =
  | { ok: true; accepted: AcceptedEvent[]; rejected: { index: number; reason: string }[]; skewMs: number }
  | { ok: false; status: 400 | 401 | 413; error: string; message: string };

export const APP_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const CURRENCY = /^[A-Z]{3}$/;
const badId = (v: string | null | undefined) => !v || v.length > 64;

const bad = (status: 400 | 401 | 413, error: string, message: string): Validated => ({
  ok: false,
  status,
  error,
  message,
});
/** `<name>: <why>` when the field's text cannot be stored as sent. */
const unstorable = (name: string, v: string | null | undefined) => {
  const why = textProblem(v);
  return why && `${name}: ${why}`;
};

function eventProblem(e: BeaconEvent, eventTime: number, receivedAt: number, limits: Limits): string | undefined {
  if (!e.eventId || !isUuid(e.eventId)) return 'event_id: not a canonical UUID';
  if (!e.type || !EventType[e.type]) return 'type: unknown event type'; // 0 is EVENT_TYPE_UNSPECIFIED
  // Field by field rather than in a loop over names: this runs for every event on the hot path.
  if (badId(e.userId)) return 'user_id: must be 1..64 characters';
  if (badId(e.deviceId)) return 'device_id: must be 1..64 characters';
  if (badId(e.campaignId)) return 'campaign_id: must be 1..64 characters';
  if (badId(e.creativeId)) return 'creative_id: must be 1..64 characters';
  if (badId(e.placementId)) return 'placement_id: must be 1..64 characters';
  const text =
    unstorable('user_id', e.userId) ??
    unstorable('device_id', e.deviceId) ??
    unstorable('campaign_id', e.campaignId) ??
    unstorable('creative_id', e.creativeId) ??
    unstorable('placement_id', e.placementId) ??
    unstorable('click_id', e.clickId) ??
    unstorable('currency', e.currency);
  if (text) return text;
  if (!e.occurredAt || e.occurredAt <= 0) return 'occurred_at: missing';
  if (eventTime < receivedAt - limits.maxAgeMs) return 'occurred_at: more than 7 days old';
  if (eventTime > receivedAt + limits.maxFutureMs) return 'occurred_at: more than 10 minutes in the future';
  if (e.clickId != null && e.clickId !== '' && !isUuid(e.clickId)) return 'click_id: not a canonical UUID';
  if (e.valueMicros != null && e.valueMicros < 0) return 'value_micros: negative';
  if (e.currency != null && e.currency !== '' && !CURRENCY.test(e.currency)) return 'currency: not an ISO 4217 code';
  if (e.attrs) {
    let n = 0;
    for (const k in e.attrs) {
      if (++n > 16) return 'attrs: more than 16 entries';
      if (!k || k.length > 32) return 'attrs: key must be 1..32 characters';
      const key = textProblem(k);
      if (key) return `attrs: key ${key}`;
      if (e.attrs[k]!.length > 256) return `attrs.${k}: value longer than 256 characters`;
      const value = textProblem(e.attrs[k]);
      if (value) return `attrs.${k}: value ${value}`;
    }
  }
  return undefined;
}

export function validateBatch(
  batch: DecodedBatch,
  appId: string,
  receivedAt: number,
  limits = contractLimits,
): Validated {
  // Text no store can hold is bad input (400) before it is another app's id (401).
  const appText = textProblem(batch.appId);
  if (appText) return bad(400, 'invalid_app_id', `app_id ${appText}`);
  const sdkText = textProblem(batch.sdk);
  if (sdkText) return bad(400, 'invalid_sdk', `sdk ${sdkText}`);
  // A batch for another app than the key's is an authentication failure (CONTRACTS.md §1: 401).
  if (batch.appId !== appId)
    return bad(401, 'app_mismatch', `app_id "${batch.appId}" does not belong to the signing key`);
  if (!APP_ID.test(batch.appId)) return bad(400, 'invalid_app_id', 'app_id must be 1..64 of [A-Za-z0-9_.-]');
  if (batch.sdk.length > 64) return bad(400, 'invalid_sdk', 'sdk must be at most 64 characters');
  if (!batch.sentAt || batch.sentAt <= 0) return bad(400, 'invalid_sent_at', 'sent_at (unix ms) is required');
  if (batch.events.length === 0) return bad(400, 'no_events', 'a batch carries 1..500 events');
  if (batch.events.length > limits.maxEvents)
    return bad(413, 'too_many_events', `a batch carries at most ${limits.maxEvents} events`);

  const skewMs = Math.max(-limits.maxSkewMs, Math.min(limits.maxSkewMs, receivedAt - batch.sentAt));
  const rejected = [...batch.rejected];
  const accepted: AcceptedEvent[] = [];
  batch.events.forEach((e, index) => {
    if (e === null) return; // already rejected by the JSON mapping
    const eventTime = (e.occurredAt ?? 0) + skewMs;
    const problem = eventProblem(e, eventTime, receivedAt, limits);
    if (problem) rejected.push({ index, reason: problem });
    else {
      const normalized = /[A-F]/.test(e.eventId!);
      if (normalized) e.eventId = e.eventId!.toLowerCase(); // one idempotency key per UUID
      accepted.push({ event: e, eventTime, index, normalized });
    }
  });
  rejected.sort((a, b) => a.index - b.index);
  return { ok: true, accepted, rejected, skewMs };
}
