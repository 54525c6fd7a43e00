// What a decided event becomes: its ads.events row, its ads.attributions row and deadline (when
// attributed); what a confirmation becomes: its ads.confirmations row; what a decided pair becomes:
// its ads.verifications row and, when it earns, its earnings.verified.v1 record. Column layout:
// schemas/migrations/clickhouse.
import { EventType } from '../schemas/beacon-json.js';
import { pipeline } from '../schemas/gen/messages.js';
import { earningId } from '../schemas/records.js';
import { PipelineError } from '../common/errors.js';
import { layouts, RowSet } from './rowbinary.js';
import type { Decision } from './attribution.js';
import type { InConfirmation } from './confirmations.js';
import type { ConfirmationSide, EventSide } from './matching.js';
import type { InEvent } from './records.js';

const seconds = (ms: number) => Math.floor(ms / 1000);

export const eventRow = (e: InEvent, d: Decision) => ({
  event_id: e.id,
  type: EventType[e.type],
  occurred_at: e.occurredAt,
  event_time: seconds(e.time),
  event_time_ms: e.time,
  received_at: seconds(e.receivedAt),
  received_at_ms: e.receivedAt,
  app_id: e.appId,
  sdk: e.sdk,
  user_id: e.userId,
  device_id: e.deviceId,
  campaign_id: e.campaignId,
  creative_id: e.creativeId,
  placement_id: e.placementId,
  click_id: e.clickId,
  value_micros: e.valueMicros,
  currency: e.currency,
  'attrs.key': Object.keys(e.attrs),
  'attrs.value': Object.values(e.attrs),
  ip_hash: e.ipHash,
  ua_class: e.uaClass,
  country: e.country,
  invalid_reason: d.invalidReason,
});
export type EventRow = ReturnType<typeof eventRow>;

export function attributionRow(e: InEvent, d: Decision) {
  if (!d.attribution) return undefined;
  return {
    event_id: e.id,
    event_type: EventType[e.type],
    attributed_to: d.attribution.to,
    campaign_id: e.campaignId,
    user_id: e.userId,
    app_id: e.appId,
    model: d.attribution.model,
    lag_ms: d.attribution.lagMs,
    event_time: seconds(e.time),
    invalid_reason: d.invalidReason,
  };
}
export type AttributionRow = NonNullable<ReturnType<typeof attributionRow>>;

/** By when an attributed rewardable event must be confirmed (ads.unverified reads it). */
export function deadlineRow(e: InEvent, d: Decision, windowMs: number) {
  if (!d.attribution) return undefined;
  return {
    event_id: e.id,
    event_type: EventType[e.type],
    app_id: e.appId,
    user_id: e.userId,
    campaign_id: e.campaignId,
    event_time: seconds(e.time),
    received_at_ms: e.receivedAt,
    verify_by_ms: e.receivedAt + windowMs,
    invalid_reason: d.invalidReason,
  };
}
export type DeadlineRow = NonNullable<ReturnType<typeof deadlineRow>>;

export const confirmationRow = (c: InConfirmation, windowMs: number) => ({
  source: c.source,
  transaction_id: c.transactionId,
  app_id: c.appId,
  user_id: c.userId,
  campaign_id: c.campaignId,
  event_id: c.eventId,
  click_id: c.clickId,
  received_at: seconds(c.receivedAt),
  received_at_ms: c.receivedAt,
  occurred_at: c.occurredAt,
  key_id: c.keyId,
  ad_unit: c.adUnit,
  reward_item: c.rewardItem,
  reward_amount: c.rewardAmount,
  value_micros: c.valueMicros,
  currency: c.currency,
  verify_by_ms: c.receivedAt + windowMs,
});
export type ConfirmationRow = ReturnType<typeof confirmationRow>;

/**
 * A decided pair, or a confirmation alone (`e` undefined: an already_confirmed one, from its own
 * fields, decided at its receipt). Deterministic: a re-emitted pair or confirmation gives the same row.
 */
export const verificationRow = (e: EventSide | undefined, k: ConfirmationSide, reason: string) => ({
  event_id: e?.id ?? k.eventId,
  event_type: e ? EventType[e.type] : '',
  source: k.source,
  transaction_id: k.transactionId,
  app_id: e?.appId ?? k.appId,
  user_id: e?.userId ?? k.userId,
  campaign_id: e?.campaignId ?? k.campaignId,
  event_received_at_ms: e?.receivedAt ?? 0,
  confirmed_at_ms: k.receivedAt,
  decided_at: seconds(Math.max(e?.receivedAt ?? 0, k.receivedAt)),
  reason,
});
export type VerificationRow = ReturnType<typeof verificationRow>;

export interface OutMessage {
  key: string;
  value: Buffer;
  headers?: Record<string, string>;
}

/** The earning of a pair that earns: verified at the later of the two receipts (server clock). */
export function earningMessage(e: EventSide, k: ConfirmationSide): OutMessage {
  const value = pipeline.v1.VerifiedEarning.encode({
    version: 1,
    earningId: earningId(e.id),
    sourceEventId: e.id,
    appId: e.appId,
    userId: e.userId,
    campaignId: e.campaignId,
    type: e.type,
    eventTime: e.time,
    verifiedAt: Math.max(e.receivedAt, k.receivedAt),
    deviceId: e.deviceId,
    receivedAt: e.receivedAt,
    confirmation: `${k.source}:${k.transactionId}`,
    confirmedAt: k.receivedAt,
    userFlags: e.flags,
  }).finish();
  return { key: e.userId, value: Buffer.from(value) };
}

/** The tables a step writes, by the name its rows go under. */
export type Table = 'events' | 'attributions' | 'deadlines' | 'confirmations' | 'verifications';
export const tables: readonly Table[] = ['events', 'attributions', 'deadlines', 'confirmations', 'verifications'];

/** What one write inserts, table by table, encoded (rowbinary.ts RowSet). */
export type Rows = Record<Table, RowSet>;
export const emptyRows = (): Rows => ({
  events: new RowSet(layouts.events),
  attributions: new RowSet(layouts.attributions),
  deadlines: new RowSet(layouts.deadlines),
  confirmations: new RowSet(layouts.confirmations),
  verifications: new RowSet(layouts.verifications),
});
export const rowCount = (r: Rows) => tables.reduce((n, t) => n + r[t].length, 0);

/** The rows of `r` whose source record's offset `keep` keeps. */
export function rowsFrom(r: Rows, keep: (origin: number) => boolean): Rows {
  const out = {} as Rows;
  for (const t of tables) out[t] = r[t].filter((i) => keep(r[t].origins[i]!));
  return out;
}

/** The rows of `parts`, table by table, as one. */
export function joinRows(parts: readonly Rows[]): Rows {
  const out = {} as Rows;
  for (const t of tables)
    out[t] = RowSet.concat(
      layouts[t],
      parts.map((p) => p[t]),
    );
  return out;
}

/** Row objects encoded, all from one source record (tests, benchmarks); a value a column cannot hold is poison. */
export function rowsOf(objects: Partial<Record<Table, object[]>>, origin = 0): Rows {
  const out = emptyRows();
  for (const t of tables) {
    for (const row of objects[t] ?? []) {
      const why = out[t].add(row, origin);
      if (why) throw new PipelineError('unstorable_value', why, { retriable: false });
    }
  }
  return out;
}
