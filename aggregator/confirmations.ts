// Reads a Confirmation record of the confirmations topic (a callback the collector verified). A record
// that cannot be read (undecodable, unknown version, a field the collector always sets missing, text
// Postgres or ClickHouse cannot store) is poison: dead-lettered with the reason, never retried.
import { pipeline } from '../schemas/gen/messages.js';
import { firstUnstorable } from '../common/storable-text.js';

export interface InConfirmation {
  /** "<source>:<transaction_id>": one confirmation, however often the network sends it. */
  key: string;
  /** Where the record sits: "<topic>:<partition>:<offset>:0"; a redelivery has the same. */
  position: string;
  /** The record's offset in the partition. */
  offset: number;
  source: string;
  transactionId: string;
  appId: string;
  userId: string;
  campaignId: string;
  eventId: string;
  clickId: string;
  receivedAt: number;
  occurredAt: number;
  keyId: string;
  adUnit: string;
  rewardItem: string;
  rewardAmount: number;
  valueMicros: number;
  currency: string;
}

export type ReadConfirmation = { ok: true; confirmation: InConfirmation } | { ok: false; reason: string };

const SUPPORTED_VERSION = 1;
/** The source of advertiser postbacks; every other source is an ad network. */
export const POSTBACK = 'postback';

export function readConfirmation(
  value: Buffer | null,
  at: { topic: string; partition: number; offset: string },
): ReadConfirmation {
  if (!value) return { ok: false, reason: 'empty_value' };
  let c: pipeline.v1.Confirmation;
  try {
    c = pipeline.v1.Confirmation.decode(value);
  } catch (err) {
    return { ok: false, reason: `undecodable: ${(err as Error).message}` };
  }
  if (c.version !== SUPPORTED_VERSION) return { ok: false, reason: `unknown_version: ${c.version}` };
  const missing = (['source', 'transactionId', 'appId', 'userId', 'receivedAt'] as const).find((f) => !c[f]);
  if (missing) return { ok: false, reason: `missing_field: ${missing}` };
  if (!c.eventId && !c.clickId) return { ok: false, reason: 'missing_field: event_id or click_id' };
  if (Number(c.receivedAt) <= 0) return { ok: false, reason: 'invalid_field: received_at' };
  if (c.source.includes(':')) return { ok: false, reason: 'invalid_field: source' }; // the key's separator
  const text = firstUnstorable({
    source: c.source,
    transaction_id: c.transactionId,
    app_id: c.appId,
    user_id: c.userId,
    campaign_id: c.campaignId,
    event_id: c.eventId,
    click_id: c.clickId,
    key_id: c.keyId,
    ad_unit: c.adUnit,
    reward_item: c.rewardItem,
    currency: c.currency,
  });
  if (text) return { ok: false, reason: `invalid_text: ${text}` };
  return {
    ok: true,
    confirmation: {
      key: `${c.source}:${c.transactionId}`,
      position: `${at.topic}:${at.partition}:${at.offset}:0`,
      offset: Number(at.offset),
      source: c.source,
      transactionId: c.transactionId,
      appId: c.appId,
      userId: c.userId,
      campaignId: c.campaignId,
      eventId: c.eventId,
      clickId: c.clickId,
      receivedAt: Number(c.receivedAt),
      occurredAt: Number(c.occurredAt),
      keyId: c.keyId,
      adUnit: c.adUnit,
      rewardItem: c.rewardItem,
      rewardAmount: Number(c.rewardAmount),
      valueMicros: Number(c.valueMicros),
      currency: c.currency,
    },
  };
}
