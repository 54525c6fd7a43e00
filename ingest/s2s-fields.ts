// The fields an ad network's reward callback must carry (AdMob's names; HMAC networks use the same),
// checked once its signature verified: what names the event (custom_data), the user, the network's
// transaction id, its clock, and the reward it granted.
import { isUuid } from '../common/name-uuid.js';
import type { Problem } from './s2s-query.js';

export interface CallbackFields {
  eventId: string;
  userId: string;
  transactionId: string;
  occurredAt: number;
  rewardAmount: number;
  rewardItem: string;
}

const DIGITS = /^\d{1,16}$/;
/** Printable ASCII without spaces: network transaction ids are hex or similar tokens. */
const TOKEN = /^[\x21-\x7e]{1,128}$/;

const invalid = (field: string, message: string): Problem => ({
  ok: false,
  status: 400,
  error: `invalid_${field}`,
  message: `${field}: ${message}`,
});

/** A decimal integer within Number's exact range, or undefined. */
export function parseInteger(s: string | undefined): number | undefined {
  if (s === undefined || !DIGITS.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function callbackFields(params: Map<string, string>): { ok: true; fields: CallbackFields } | Problem {
  const eventId = params.get('custom_data');
  // AdMob leaves custom_data and user_id out when the app set no SSV options: nothing to confirm.
  if (!eventId)
    return invalid(
      'custom_data',
      "absent: the app must pass the event_id of the event it confirms as the ad's SSV custom data",
    );
  if (!isUuid(eventId))
    return invalid('custom_data', 'must be the event_id (a canonical UUID) of the event it confirms');
  const userId = params.get('user_id');
  if (!userId) return invalid('user_id', "absent: the app must pass its user_id as the ad's SSV user id");
  if (userId.length > 64) return invalid('user_id', 'must be 1..64 characters');
  const transactionId = params.get('transaction_id');
  if (!transactionId || !TOKEN.test(transactionId))
    return invalid('transaction_id', 'must be 1..128 printable characters without spaces');
  const occurredAt = parseInteger(params.get('timestamp'));
  if (occurredAt === undefined) return invalid('timestamp', 'must be a decimal integer (unix ms)');
  const amount = params.get('reward_amount');
  const rewardAmount = amount === undefined ? 0 : parseInteger(amount);
  if (rewardAmount === undefined) return invalid('reward_amount', 'must be a non-negative decimal integer');
  const rewardItem = params.get('reward_item') ?? '';
  if (rewardItem.length > 64) return invalid('reward_item', 'must be at most 64 characters');
  // One idempotency key per UUID, as for beacons: the event's id is stored lower case.
  return {
    ok: true,
    fields: { eventId: eventId.toLowerCase(), userId, transactionId, occurredAt, rewardAmount, rewardItem },
  };
}
