import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EventType } from '../schemas/beacon-json.js';
import { pipeline } from '../schemas/gen/messages.js';
import { earningId } from '../schemas/records.js';
import { readEarning } from './records.js';

const record = (over: Partial<pipeline.v1.IVerifiedEarning> = {}) => {
  const sourceEventId = randomUUID();
  return Buffer.from(
    pipeline.v1.VerifiedEarning.encode({
      version: 1,
      earningId: earningId(sourceEventId),
      sourceEventId,
      appId: 'a',
      userId: 'u',
      campaignId: 'c',
      type: EventType.REWARD_COMPLETE,
      eventTime: 1,
      verifiedAt: 2,
      deviceId: 'd',
      receivedAt: 2,
      confirmation: 'admob:t1',
      confirmedAt: 2,
      ...over,
    }).finish(),
  );
};

describe('readEarning', () => {
  it('reads an earning whose id is derived from its source event', () => {
    expect(readEarning(record())).toMatchObject({
      ok: true,
      earning: {
        appId: 'a',
        userId: 'u',
        campaignId: 'c',
        type: 'REWARD_COMPLETE',
        deviceId: 'd',
        confirmation: 'admob:t1',
        confirmedAt: 2,
      },
    });
  });

  it('reads an earning without a confirmation, for the ledger to refuse and record', () => {
    expect(readEarning(record({ confirmation: '' }))).toMatchObject({ ok: true, earning: { confirmation: '' } });
  });

  it('refuses, with the reason, what the ledger cannot key', () => {
    expect(readEarning(record({ earningId: randomUUID() }))).toEqual({
      ok: false,
      reason: 'invalid_id: earning_id is not derived from source_event_id',
    });
    expect(readEarning(record({ sourceEventId: 'not-a-uuid' }))).toEqual({ ok: false, reason: 'invalid_id' });
    expect(readEarning(record({ version: 2 }))).toEqual({ ok: false, reason: 'unknown_version: 2' });
    expect(readEarning(record({ type: EventType.CLICK }))).toEqual({ ok: false, reason: 'not_rewardable: type 3' });
    expect(readEarning(record({ userId: 'u\u0000x' }))).toEqual({ ok: false, reason: 'invalid_text: user_id: nul' });
    expect(readEarning(record({ campaignId: 'c\u0000' }))).toEqual({
      ok: false,
      reason: 'invalid_text: campaign_id: nul',
    });
    expect(readEarning(record({ deviceId: 'd\u0000' }))).toEqual({ ok: false, reason: 'invalid_text: device_id: nul' });
    expect(readEarning(record({ appId: 'a:b' }))).toEqual({ ok: false, reason: 'invalid_app_id' }); // would name another person
    expect(readEarning(record({ userFlags: ['click_injection', 'two words'] }))).toEqual({
      ok: false,
      reason: 'invalid_flag',
    }); // stored space-separated
  });

  it('reads the flags the aggregator put on the person', () => {
    expect(readEarning(record({ userFlags: ['click_flooding', 'declared_bot'] }))).toMatchObject({
      ok: true,
      earning: { userFlags: ['click_flooding', 'declared_bot'] },
    });
  });
});
