import { describe, expect, it } from 'vitest';
import { readRecord } from './records.js';
import { acceptedRecord, testEvent } from './test-support.js';

const at = { topic: 't', partition: 0, offset: '7' };

describe('readRecord', () => {
  it('reads a record the collector wrote, each event at its position', () => {
    const read = readRecord(acceptedRecord([testEvent('IMPRESSION', 1_000), testEvent('CLICK', 2_000)]).value, at);
    expect(read.ok && read.events.map((e) => e.position)).toEqual(['t:0:7:0', 't:0:7:1']);
  });

  it.each([
    ['a NUL in a user id', { userId: 'u\u0000' }, 'invalid_text: event 0 user_id: nul'],
    ['a NUL in a campaign id', { campaignId: 'c\u0000' }, 'invalid_text: event 0 campaign_id: nul'],
    ['a NUL in a click id', { clickId: '\u0000' }, 'invalid_text: event 0 click_id: nul'],
  ])('refuses, whole, a record with %s', (_name, over, reason) => {
    expect(readRecord(acceptedRecord([testEvent('IMPRESSION', 1_000, over)]).value, at)).toEqual({ ok: false, reason });
  });

  it('refuses a record whose app id Postgres cannot store', () => {
    expect(readRecord(acceptedRecord([testEvent('IMPRESSION', 1_000)], { appId: 'a\u0000' }).value, at)).toEqual({
      ok: false,
      reason: 'invalid_text: app_id: nul',
    });
  });
});
