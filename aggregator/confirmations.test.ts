import { describe, expect, it } from 'vitest';
import { pipeline } from '../schemas/gen/messages.js';
import { readConfirmation } from './confirmations.js';

const at = { topic: 'confirmations', partition: 2, offset: '9' };
const valid: pipeline.v1.Confirmation.$Properties = {
  version: 1,
  source: 'admob',
  transactionId: 'tx-1',
  appId: 'app',
  userId: 'u1',
  eventId: 'e1',
  receivedAt: 1_763_800_000_000,
  occurredAt: 1_763_799_999_000,
  keyId: '3335741209',
  adUnit: 'unit',
  rewardItem: 'coins',
  rewardAmount: 10,
};
const encode = (over: pipeline.v1.Confirmation.$Properties) =>
  Buffer.from(pipeline.v1.Confirmation.encode({ ...valid, ...over }).finish());

describe('readConfirmation', () => {
  it('reads a confirmation the collector wrote, keyed by source and transaction, at its position', () => {
    const read = readConfirmation(encode({}), at);
    expect(read).toMatchObject({
      ok: true,
      confirmation: {
        key: 'admob:tx-1',
        position: 'confirmations:2:9:0',
        eventId: 'e1',
        receivedAt: 1_763_800_000_000,
        rewardAmount: 10,
      },
    });
  });

  it('reads a postback that names a click instead of its conversion', () => {
    expect(
      readConfirmation(encode({ source: 'postback', eventId: '', clickId: 'c1', campaignId: 'camp' }), at).ok,
    ).toBe(true);
  });

  it.each<[string, Buffer | null, string]>([
    ['an empty value', null, 'empty_value'],
    ['bytes that are no protobuf', Buffer.from([0xff, 0xff, 0xff]), 'undecodable'],
    ['an unknown version', encode({ version: 2 }), 'unknown_version: 2'],
    ['no transaction id', encode({ transactionId: '' }), 'missing_field: transactionId'],
    ['no user', encode({ userId: '' }), 'missing_field: userId'],
    ['no receipt time', encode({ receivedAt: 0 }), 'missing_field: receivedAt'],
    ['a negative receipt time', encode({ receivedAt: -5 }), 'invalid_field: received_at'],
    ['neither event nor click', encode({ eventId: '', clickId: '' }), 'missing_field: event_id or click_id'],
    ['a source with a colon', encode({ source: 'ad:mob' }), 'invalid_field: source'],
    ['a NUL in the user id', encode({ userId: 'u\u0000' }), 'invalid_text: user_id: nul'],
    ['a NUL in the transaction id', encode({ transactionId: 't\u0000' }), 'invalid_text: transaction_id: nul'],
  ])('refuses %s as poison', (_name, value, reason) => {
    const read = readConfirmation(value, at);
    expect(read.ok).toBe(false);
    expect(!read.ok && read.reason.startsWith(reason)).toBe(true);
  });
});
