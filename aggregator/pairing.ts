// The join of rewardable events and confirmations (README "The join"): what each offers to the
// pairing in Redis (lua/pair.lua), and what the pairing's emissions become: one ads.verifications row
// each and, for a pair that earns, one VerifiedEarning. Pure; the state adapter runs the script.
import { EventType } from '../schemas/beacon-json.js';
import type { Decision } from './attribution.js';
import type { InConfirmation } from './confirmations.js';
import {
  ALREADY_CONFIRMED,
  decodeConfirmationSide,
  decodeEventSide,
  encodeConfirmationSide,
  encodeEventSide,
  matchReason,
} from './matching.js';
import type { InEvent } from './records.js';
import { earningMessage, verificationRow, type OutMessage, type VerificationRow } from './rows.js';

/** One side offered to the pairing (pairing-local.ts). */
export interface Offer {
  side: 'e' | 'k';
  appId: string;
  userId: string;
  eventId: string;
  clickId: string;
  position: string;
  ttlMs: number;
  payload: string;
}
/** What the pairing emitted for offer number `offer`: a pair to decide, or another confirmation of a claimed event. */
export interface Emission {
  offer: number;
  kind: 'pair' | 'second';
  e: string;
  k: string;
}

export const isRewardable = (type: EventType) => type === EventType.REWARD_COMPLETE || type === EventType.CONVERSION;

/**
 * A rewardable event's offer, under its app and id and, for a conversion attributed to its own
 * user's click, under that click too: a postback naming a click is decided against the first
 * conversion the click's own user made on it, valid or not (a click-injected conversion keeps it, so
 * a later conversion forged on the same click cannot take its postback), never another user's on
 * the same device.
 * The hash lives for the campaign's verification window and `marginMs` after each offer.
 */
export function eventOffer(e: InEvent, d: Decision, windowMs: number, marginMs: number): Offer | undefined {
  if (!isRewardable(e.type)) return undefined;
  const payload = encodeEventSide({
    id: e.id,
    type: e.type,
    appId: e.appId,
    userId: e.userId,
    deviceId: e.deviceId,
    campaignId: e.campaignId,
    time: e.time,
    receivedAt: e.receivedAt,
    invalidReason: d.invalidReason,
    attributed: !!d.attribution,
    windowMs,
    flags: d.userFlags ?? [],
  });
  const a = d.attribution;
  const clickId = e.type === EventType.CONVERSION && a?.model === 'click' && !a.otherUser ? a.to : '';
  return {
    side: 'e',
    appId: e.appId,
    userId: e.userId,
    eventId: e.id,
    clickId,
    position: e.position,
    ttlMs: windowMs + marginMs,
    payload,
  };
}

/** A confirmation's offer, under its app (verified by the collector) and the event it names, else the click it names. */
export function confirmationOffer(c: InConfirmation, windowMs: number, marginMs: number): Offer {
  const payload = encodeConfirmationSide(c);
  return {
    side: 'k',
    appId: c.appId,
    userId: c.userId,
    eventId: c.eventId,
    clickId: c.eventId ? '' : c.clickId,
    position: c.position,
    ttlMs: windowMs + marginMs,
    payload,
  };
}

/**
 * An emission's row and, when the pair earns, its earning. A 'second' is the confirmation's alone:
 * whichever record emits it, and whenever, it is the same row (so a redelivery finds it landed).
 */
export function decided(emission: Emission): { verification: VerificationRow; earning?: OutMessage } {
  const k = decodeConfirmationSide(emission.k);
  const e = emission.e ? decodeEventSide(emission.e) : undefined;
  if (emission.kind === 'second' || !e) return { verification: verificationRow(undefined, k, ALREADY_CONFIRMED) };
  const reason = matchReason(e, k);
  return { verification: verificationRow(e, k, reason), ...(reason === '' ? { earning: earningMessage(e, k) } : {}) };
}
