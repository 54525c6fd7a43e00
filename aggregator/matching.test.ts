import { describe, expect, it } from 'vitest';
import { EventType } from '../schemas/beacon-json.js';
import {
  decodeConfirmationSide,
  decodeEventSide,
  encodeConfirmationSide,
  encodeEventSide,
  matchReason,
  type ConfirmationSide,
  type EventSide,
} from './matching.js';

const T0 = Date.UTC(2026, 10, 1, 12);
const MIN = 60_000;
const completion: EventSide = {
  id: 'e1',
  type: EventType.REWARD_COMPLETE,
  appId: 'app',
  userId: 'u1',
  deviceId: 'd1',
  campaignId: 'c1',
  time: T0 - 5_000,
  receivedAt: T0,
  invalidReason: '',
  attributed: true,
  windowMs: 60 * MIN,
  flags: [],
};
const conversion: EventSide = { ...completion, id: 'e2', type: EventType.CONVERSION };
// An ad network's confirmation is for its ad unit's campaign (ingest/ad-unit.ts).
const admob: ConfirmationSide = {
  source: 'admob',
  transactionId: 't1',
  appId: 'app',
  userId: 'u1',
  campaignId: 'c1',
  eventId: 'e1',
  clickId: '',
  receivedAt: T0 + MIN,
};
const postback: ConfirmationSide = {
  ...admob,
  source: 'postback',
  transactionId: 'c1:e2',
  campaignId: 'c1',
  eventId: 'e2',
};

describe('matchReason', () => {
  it.each<[string, EventSide, ConfirmationSide, string]>([
    ['an ad network confirming a valid attributed completion', completion, admob, ''],
    ['an HMAC network confirming it', completion, { ...admob, source: 'pangle' }, ''],
    ['a postback confirming a valid attributed conversion of its campaign', conversion, postback, ''],
    [
      'a confirmation received before the event, within the window',
      completion,
      { ...admob, receivedAt: T0 - 59 * MIN },
      '',
    ],
    [
      'a confirmation received exactly at the end of the window',
      completion,
      { ...admob, receivedAt: T0 + 60 * MIN },
      '',
    ],
    ['an ad network confirming a conversion', conversion, admob, 'type_mismatch'],
    ['a postback confirming a completion', completion, postback, 'type_mismatch'],
    ['an event flagged invalid', { ...completion, invalidReason: 'bot_user_agent' }, admob, 'bot_user_agent'],
    [
      'an event of a campaign of another app',
      { ...completion, invalidReason: 'campaign_not_in_app' },
      admob,
      'campaign_not_in_app',
    ],
    ['an event attributed to nothing', { ...completion, attributed: false }, admob, 'not_attributed'],
    ['a confirmation for another user', completion, { ...admob, userId: 'u2' }, 'user_mismatch'],
    ['a postback of another campaign', conversion, { ...postback, campaignId: 'c2' }, 'campaign_mismatch'],
    [
      "AdMob confirming, for its ad unit's campaign, a completion the beacon claims for another campaign",
      completion,
      { ...admob, campaignId: 'c2' },
      'campaign_mismatch',
    ],
    [
      'an HMAC network confirming for another campaign',
      completion,
      { ...admob, source: 'pangle', campaignId: 'c2' },
      'campaign_mismatch',
    ],
    [
      "an ad network's confirmation recorded before it carried a campaign",
      completion,
      { ...admob, campaignId: '' },
      'campaign_mismatch',
    ],
    [
      'another campaign and a late confirmation: the campaign first',
      completion,
      { ...admob, campaignId: 'c2', receivedAt: T0 + 61 * MIN },
      'campaign_mismatch',
    ],
    [
      'a confirmation received after the window',
      completion,
      { ...admob, receivedAt: T0 + 60 * MIN + 1 },
      'confirmation_late',
    ],
    [
      'a confirmation received long before the event',
      completion,
      { ...admob, receivedAt: T0 - 61 * MIN },
      'confirmation_late',
    ],
    ["the campaign's own window, not the default", { ...completion, windowMs: 10 * MIN }, admob, ''],
    ['a shorter window missed', { ...completion, windowMs: 30_000 }, admob, 'confirmation_late'],
    [
      'several faults: the first rule broken wins',
      { ...conversion, invalidReason: 'click_injection', userId: 'u9' },
      admob,
      'type_mismatch',
    ],
    [
      "an invalid event for another user: the event's reason first",
      { ...completion, invalidReason: 'datacenter_ip' },
      { ...admob, userId: 'u9' },
      'datacenter_ip',
    ],
  ])('%s -> %j', (_name, e, k, reason) => {
    expect(matchReason(e, k)).toBe(reason);
  });
});

describe('stored sides', () => {
  it('decode to what was encoded', () => {
    expect(decodeEventSide(encodeEventSide(completion))).toEqual(completion);
    expect(decodeEventSide(encodeEventSide({ ...completion, attributed: false }))).toEqual({
      ...completion,
      attributed: false,
    });
    expect(decodeConfirmationSide(encodeConfirmationSide(postback))).toEqual(postback);
  });
});
