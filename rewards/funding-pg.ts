// Advertiser money into a campaign's budget (`npm run rewards -- fund`). A funding repeated with the
// same campaign, amount and reference posts once, also when the first was posted before funding keys
// became JSON arrays (README "Idempotency keys").
import { fundingTransfer } from './earnings.js';
import { accountsOf, contentHash, legacyKey, type Fen, type TransferResult } from './ledger.js';
import type { PgLedger } from './ledger-pg.js';

export function fundCampaign(ledger: PgLedger, campaignId: string, amountFen: Fen, reference: string, currency: string): Promise<TransferResult> {
  const transfer = fundingTransfer(campaignId, amountFen, reference, currency);
  return ledger.unitOfWork(async (tx) => {
    const accounts = await tx.lock(accountsOf([transfer]));
    // The old key was ambiguous ("a:b" + "c" = "a" + "b:c"). A transaction there with this reference
    // is this campaign's funding (same key, same reference: same campaign), refused if its content
    // differs; one with another reference is another campaign's, so this one is posted.
    const old = (await tx.existing([legacyKey('fund', campaignId, reference)])).values().next().value;
    if (old?.reference === reference) return old.hash.equals(contentHash(transfer)) ? { status: 'exists' } : { status: 'exists_with_different_content' };
    return (await tx.post([transfer], accounts)).results[0]!;
  });
}
