// What a decided event becomes: its ads.events row, its ads.attributions row (when attributed) and
// its earnings.verified.v1 record (when it earns). Column layout: schemas/migrations/clickhouse.
import { EventType } from '../schemas/beacon-json.js';
import { pipeline } from '../schemas/gen/messages.js';
import { earningId } from '../schemas/records.js';
import type { Decision } from './attribution.js';
import type { InEvent } from './records.js';

const seconds = (ms: number) => Math.floor(ms / 1000);

export const eventRow = (e: InEvent, d: Decision) => ({
  event_id: e.id, type: EventType[e.type], occurred_at: e.occurredAt, event_time: seconds(e.time), event_time_ms: e.time,
  received_at: seconds(e.receivedAt), received_at_ms: e.receivedAt, app_id: e.appId, sdk: e.sdk, user_id: e.userId,
  device_id: e.deviceId, campaign_id: e.campaignId, creative_id: e.creativeId, placement_id: e.placementId, click_id: e.clickId,
  value_micros: e.valueMicros, currency: e.currency, 'attrs.key': Object.keys(e.attrs), 'attrs.value': Object.values(e.attrs),
  ip_hash: e.ipHash, ua_class: e.uaClass, country: e.country, invalid_reason: d.invalidReason,
});
export type EventRow = ReturnType<typeof eventRow>;

export function attributionRow(e: InEvent, d: Decision) {
  if (!d.attribution) return undefined;
  return {
    event_id: e.id, event_type: EventType[e.type], attributed_to: d.attribution.to, campaign_id: e.campaignId, user_id: e.userId,
    app_id: e.appId, model: d.attribution.model, lag_ms: d.attribution.lagMs, event_time: seconds(e.time), invalid_reason: d.invalidReason,
  };
}
export type AttributionRow = NonNullable<ReturnType<typeof attributionRow>>;

export interface OutMessage { key: string; value: Buffer; headers?: Record<string, string> }

export function earningMessage(e: InEvent, verifiedAt: number): OutMessage {
  const value = pipeline.v1.VerifiedEarning.encode({
    version: 1, earningId: earningId(e.id), sourceEventId: e.id, appId: e.appId, userId: e.userId,
    campaignId: e.campaignId, type: e.type, eventTime: e.time, verifiedAt,
  }).finish();
  return { key: e.userId, value: Buffer.from(value) };
}
