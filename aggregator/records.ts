// Reads an AcceptedBeacons record of the beacon topic into flat events. A record that cannot be
// read (undecodable, unknown version, an event the collector could never have accepted) is poison:
// it is dead-lettered whole with the reason, never retried.
import { EventType } from '../schemas/beacon-json.js';
import { pipeline, type beacon } from '../schemas/gen/messages.js';
import { firstUnstorable } from '../common/storable-text.js';
import type { AttributionEvent } from './attribution.js';

export interface InEvent extends AttributionEvent {
  /** Where the event sits: "<topic>:<partition>:<offset>:<index>"; a redelivery has the same. */
  position: string;
  /** Its record's offset in the partition, and its index in the record. */
  offset: number;
  index: number;
  occurredAt: number;
  receivedAt: number;
  sdk: string;
  placementId: string;
  valueMicros: number;
  currency: string;
  attrs: Record<string, string>;
  ipHash: string;
  uaClass: string;
  country: string;
}

export type ReadRecord = { ok: true; events: InEvent[] } | { ok: false; reason: string };

const SUPPORTED_VERSION = 1;
const required = ['eventId', 'userId', 'deviceId', 'campaignId', 'creativeId', 'placementId'] as const;

/** An event's attributes as one text to check (most events have none). */
function attrsText(attrs: Record<string, string>): string {
  let text = '';
  for (const k in attrs) text += `${k}\n${attrs[k]}\n`;
  return text;
}

export function readRecord(value: Buffer | null, at: { topic: string; partition: number; offset: string }): ReadRecord {
  if (!value) return { ok: false, reason: 'empty_value' };
  let record: pipeline.v1.AcceptedBeacons;
  try {
    record = pipeline.v1.AcceptedBeacons.decode(value);
  } catch (err) {
    return { ok: false, reason: `undecodable: ${(err as Error).message}` };
  }
  if (record.version !== SUPPORTED_VERSION) return { ok: false, reason: `unknown_version: ${record.version}` };
  if (!record.appId || !record.receivedAt) return { ok: false, reason: 'missing_field: app_id or received_at' };
  // Text Postgres refuses (NUL: the earning's user) or cannot keep (a lone surrogate) poisons the record.
  const recordText = firstUnstorable({
    app_id: record.appId,
    sdk: record.sdk,
    ip_hash: record.ipHash,
    ua_class: record.uaClass,
    country: record.country,
    invalid_reason: record.invalidReason,
  });
  if (recordText) return { ok: false, reason: `invalid_text: ${recordText}` };

  const events: InEvent[] = [];
  for (const [index, accepted] of record.events.entries()) {
    const e = accepted.event as beacon.v1.Event | null; // decoded: every field has its default
    const missing = e ? required.find((f) => !e[f]) : 'event';
    if (!e || missing) return { ok: false, reason: `invalid_event: ${index}: ${missing} missing` };
    if (!EventType[e.type] || e.type === EventType.EVENT_TYPE_UNSPECIFIED)
      return { ok: false, reason: `invalid_event: ${index}: type ${e.type}` };
    const text = firstUnstorable({
      event_id: e.eventId,
      user_id: e.userId,
      device_id: e.deviceId,
      campaign_id: e.campaignId,
      creative_id: e.creativeId,
      placement_id: e.placementId,
      click_id: e.clickId,
      currency: e.currency,
      attrs: attrsText(e.attrs),
    });
    if (text) return { ok: false, reason: `invalid_text: event ${index} ${text}` };
    events.push({
      id: e.eventId,
      type: e.type,
      time: Number(accepted.eventTime),
      appId: record.appId,
      userId: e.userId,
      deviceId: e.deviceId,
      campaignId: e.campaignId,
      creativeId: e.creativeId,
      clickId: e.clickId ?? '',
      givt: record.invalidReason,
      position: `${at.topic}:${at.partition}:${at.offset}:${index}`,
      offset: Number(at.offset),
      index,
      occurredAt: Number(e.occurredAt),
      receivedAt: Number(record.receivedAt),
      sdk: record.sdk,
      placementId: e.placementId,
      valueMicros: Number(e.valueMicros ?? 0),
      currency: e.currency ?? '',
      attrs: e.attrs,
      ipHash: record.ipHash,
      uaClass: record.uaClass,
      country: record.country,
    });
  }
  return { ok: true, events };
}
