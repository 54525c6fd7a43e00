import { describe, expect, it } from 'vitest';
import { pipeline } from '../schemas/gen/messages.js';
import { defaultCampaign } from './attribution.js';
import type { Offer } from './pairing.js';
import type { BatchPorts } from './process-batch.js';
import { processConfirmations } from './process-confirmations.js';
import { emptyRows } from './rows.js';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 1, 12);
const windows: Record<string, number> = { 'c-short': 5 * MIN, 'c-long': 6 * 60 * MIN };

/** Fakes of the ports: nothing decided or claimed before, the pairing emits nothing; campaigns by `windows`. */
function ports(offered: Offer[]): Pick<BatchPorts, 'state' | 'withoutLanded' | 'settings'> {
  return {
    state: {
      decidedThrough: () => -1,
      known: () => null,
      claimIfNew: () => true,
      duplicate: () => undefined,
      decided: () => undefined,
      load: async () => {
        throw new Error('not used');
      },
      apply: async () => undefined,
      pair: (offers) => (offered.push(...offers), []),
    },
    withoutLanded: async () => emptyRows(),
    settings: (campaignId) => ({ ...defaultCampaign, verificationWindowMs: windows[campaignId] ?? 60 * MIN }),
  };
}
const record = (source: string, campaignId: string, i: number) => ({
  offset: String(i),
  key: Buffer.from('u1'),
  value: Buffer.from(
    pipeline.v1.Confirmation.encode({
      version: 1,
      source,
      transactionId: `t${i}`,
      appId: 'app',
      userId: 'u1',
      campaignId,
      eventId: `0b7c2a4e-5d1f-4c3b-9a8e-7f6d5c4b3a2${i}`,
      receivedAt: T0,
    }).finish(),
  ),
});

describe('processConfirmations', () => {
  it.each<[string, string, string, number]>([
    ["an AdMob confirmation: its ad unit's campaign's window", 'admob', 'c-short', 5 * MIN],
    ["an HMAC network's: its ad unit's campaign's window", 'pangle', 'c-long', 6 * 60 * MIN],
    ["a postback: its campaign's window", 'postback', 'c-short', 5 * MIN],
    ["an ad network's recorded before confirmations carried a campaign: the default window", 'admob', '', 30 * MIN],
  ])('gives %s', async (_name, source, campaignId, windowMs) => {
    const offered: Offer[] = [];
    const out = await processConfirmations({ pairingMarginMs: MIN, defaultWindowMs: 30 * MIN }, ports(offered), {
      topic: 'conf',
      partition: 0,
      messages: [record(source, campaignId, 1)],
    });
    const body = out.confirmations.body;
    expect(body.readBigUInt64LE(body.length - 8)).toBe(BigInt(T0 + windowMs)); // verify_by_ms, the last column
    expect(offered.map((o) => o.ttlMs)).toEqual([windowMs + MIN]);
  });
});

describe('a confirmation whose row a column cannot hold', () => {
  it('is dead-lettered with the column and value, and the records around it are kept', async () => {
    const late = record('admob', 'c-short', 2);
    const decoded = pipeline.v1.Confirmation.decode(late.value);
    decoded.receivedAt = 2 ** 32 * 1000; // past DateTime's last second
    late.value = Buffer.from(pipeline.v1.Confirmation.encode(decoded).finish());
    const messages = [record('admob', 'c-short', 1), late, record('admob', 'c-short', 3)];
    const out = await processConfirmations({ pairingMarginMs: MIN, defaultWindowMs: 30 * MIN }, ports([]), {
      topic: 'conf',
      partition: 0,
      messages,
    });
    expect(out.confirmations.ids).toEqual(['admob:t1', 'admob:t3']);
    expect(out.deadLetters.map((m) => [m.headers?.dlq_offset, m.headers?.dlq_reason])).toEqual([
      ['2', "unstorable_value: confirmations.received_at: 4294967296 is not a DateTime('UTC')"],
    ]);
    expect(out.counts).toMatchObject({ events: 2, deadLettered: 1 });
  });
});
