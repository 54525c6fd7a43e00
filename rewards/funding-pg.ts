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
    // The same content under the old key is this funding; other content there is another campaign's
    // (the old form was ambiguous: "a:b" + "c" = "a" + "b:c"), so this one is posted.
    const old = (await tx.existing([legacyKey('fund', campaignId, reference)])).values().next().value;
    if (old?.hash.equals(contentHash(transfer))) return { status: 'exists' };
    return (await tx.post([transfer], accounts)).results[0]!;
  });
}
