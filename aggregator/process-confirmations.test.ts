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
      load: async () => { throw new Error('not used'); },
      apply: async () => undefined,
      pair: (offers) => (offered.push(...offers), []),
    },
    withoutLanded: async () => emptyRows(),
    settings: (campaignId) => ({ ...defaultCampaign, verificationWindowMs: windows[campaignId] ?? 60 * MIN }),
  };
}
const record = (source: string, campaignId: string, i: number) => ({
  offset: String(i), key: Buffer.from('u1'),
  value: Buffer.from(pipeline.v1.Confirmation.encode({
    version: 1, source, transactionId: `t${i}`, appId: 'app', userId: 'u1', campaignId, eventId: `0b7c2a4e-5d1f-4c3b-9a8e-7f6d5c4b3a2${i}`, receivedAt: T0,
  }).finish()),
});

describe('processConfirmations', () => {
  it.each<[string, string, string, number]>([
    ['an AdMob confirmation: its ad unit\'s campaign\'s window', 'admob', 'c-short', 5 * MIN],
    ['an HMAC network\'s: its ad unit\'s campaign\'s window', 'pangle', 'c-long', 6 * 60 * MIN],
    ['a postback: its campaign\'s window', 'postback', 'c-short', 5 * MIN],
    ['an ad network\'s recorded before confirmations carried a campaign: the default window', 'admob', '', 30 * MIN],
  ])('gives %s', async (_name, source, campaignId, windowMs) => {
    const offered: Offer[] = [];
    const out = await processConfirmations({ pairingMarginMs: MIN, defaultWindowMs: 30 * MIN }, ports(offered), { topic: 'conf', partition: 0, messages: [record(source, campaignId, 1)] });
    expect(out.confirmations.map((r) => r.verify_by_ms)).toEqual([T0 + windowMs]);
    expect(offered.map((o) => o.ttlMs)).toEqual([windowMs + MIN]);
  });
});
