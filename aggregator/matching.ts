// The matching rules, pure (CONTRACTS §7): whether a rewardable event and the confirmation that names
// it earn, and if not, why. The two sides are what pairing stores of each (lua/pair.lua), so the
// same pair is decided the same way however often it is emitted.
import { EventType } from '../schemas/beacon-json.js';
import { POSTBACK, type InConfirmation } from './confirmations.js';

/** What a REWARD_COMPLETE or CONVERSION offers to the pairing: its decision and what its earning carries. */
export interface EventSide {
  id: string;
  type: EventType;
  appId: string;
  userId: string;
  deviceId: string;
  campaignId: string;
  /** Device clock (skew-corrected), ms. */
  time: number;
  /** Server clock, ms. */
  receivedAt: number;
  invalidReason: string;
  attributed: boolean;
  /** The campaign's verification window when the event was decided. */
  windowMs: number;
  /** The person's flags when the event was decided (Decision.userFlags): the earning carries them. */
  flags: string[];
}

/** What a confirmation offers: the fields of it the rules and the earning need. */
export type ConfirmationSide = Pick<
  InConfirmation,
  'source' | 'transactionId' | 'appId' | 'userId' | 'campaignId' | 'eventId' | 'clickId' | 'receivedAt'
>;

/** '' earns; anything else is why not (the event's invalid_reason among them). */
export type Reason = string;

/** The reason of a pair, the first rule it breaks in this order. Both are of one app: pairing keys are per app (lua/pair.lua). */
export function matchReason(e: EventSide, k: ConfirmationSide): Reason {
  const fits = k.source === POSTBACK ? EventType.CONVERSION : EventType.REWARD_COMPLETE;
  if (e.type !== fits) return 'type_mismatch';
  if (e.invalidReason) return e.invalidReason;
  if (!e.attributed) return 'not_attributed';
  if (e.userId !== k.userId) return 'user_mismatch';
  // Every confirmation is for a campaign: a postback's secret's, an ad network's ad unit's (the client
  // chose the event's campaign; an ad network's confirmation from before it carried one has none).
  if (k.campaignId !== e.campaignId) return 'campaign_mismatch';
  if (Math.abs(k.receivedAt - e.receivedAt) > e.windowMs) return 'confirmation_late';
  return '';
}

/** A confirmation of an event another confirmation already claimed: recorded, never earns. */
export const ALREADY_CONFIRMED = 'already_confirmed';

// The sides as stored in Redis: JSON arrays, in the order of the fields above (a pairing hash lives
// for the verification window and a margin, one per rewardable event, so the names are left out).
export const encodeEventSide = (e: EventSide) =>
  JSON.stringify([
    e.id,
    e.type,
    e.appId,
    e.userId,
    e.deviceId,
    e.campaignId,
    e.time,
    e.receivedAt,
    e.invalidReason,
    e.attributed ? 1 : 0,
    e.windowMs,
    e.flags,
  ]);

export function decodeEventSide(json: string): EventSide {
  const [id, type, appId, userId, deviceId, campaignId, time, receivedAt, invalidReason, attributed, windowMs, flags] =
    JSON.parse(json) as [
      string,
      EventType,
      string,
      string,
      string,
      string,
      number,
      number,
      string,
      number,
      number,
      string[]?,
    ];
  // A side stored before flags were carried has none.
  return {
    id,
    type,
    appId,
    userId,
    deviceId,
    campaignId,
    time,
    receivedAt,
    invalidReason,
    attributed: attributed === 1,
    windowMs,
    flags: flags ?? [],
  };
}

export const encodeConfirmationSide = (k: ConfirmationSide) =>
  JSON.stringify([k.source, k.transactionId, k.appId, k.userId, k.campaignId, k.eventId, k.clickId, k.receivedAt]);

export function decodeConfirmationSide(json: string): ConfirmationSide {
  const [source, transactionId, appId, userId, campaignId, eventId, clickId, receivedAt] = JSON.parse(json) as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    number,
  ];
  return { source, transactionId, appId, userId, campaignId, eventId, clickId, receivedAt };
}
