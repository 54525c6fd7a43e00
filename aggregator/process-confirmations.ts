// One partition's batch of confirmation records -> ads.confirmations rows, the pairs they complete
// (ads.verifications rows, earnings) and dead letters, exactly once. Each confirmation is claimed as
// "conf:<source>:<transaction_id>", as events are (process-batch.ts): new, a redelivery (only rows
// ClickHouse lacks), or a duplicate (a network's retry: dropped, counted).
import { deadLetter } from '../schemas/records.js';
import { readConfirmation, type InConfirmation } from './confirmations.js';
import { confirmationOffer } from './pairing.js';
import {
  addEmissions,
  emptyOutput,
  stepRows,
  type BatchOutput,
  type BatchPorts,
  type KafkaMessage,
} from './process-batch.js';
import { confirmationRow, type Rows } from './rows.js';

export async function processConfirmations(
  config: { pairingMarginMs: number; defaultWindowMs: number },
  ports: Pick<BatchPorts, 'state' | 'withoutLanded' | 'settings'>,
  batch: { topic: string; partition: number; messages: KafkaMessage[] },
): Promise<BatchOutput> {
  const out = emptyOutput(batch);
  const read: InConfirmation[] = [];
  for (const m of batch.messages) {
    const r = readConfirmation(m.value, { topic: batch.topic, partition: batch.partition, offset: m.offset });
    if (r.ok) read.push(r.confirmation);
    else {
      out.deadLetters.push(deadLetter(m, r.reason, batch));
      out.counts.deadLettered++;
    }
  }
  if (read.length === 0) return out;

  const through = ports.state.decidedThrough('c');
  const fresh: InConfirmation[] = [];
  const redelivered: InConfirmation[] = [];
  for (const c of read) {
    if (c.offset <= through ? ports.state.known('c', c.offset, 0) !== null : ports.state.claimIfNew(`conf:${c.key}`)) {
      (c.offset <= through ? redelivered : fresh).push(c);
    } else {
      if (c.offset > through) ports.state.duplicate(c.offset, 0);
      out.counts.duplicates++;
    }
  }

  // Its campaign's window (a postback's, an ad network's ad unit's); the default for one recorded before
  // ad-network confirmations carried a campaign.
  const windowOf = (c: InConfirmation) =>
    c.campaignId ? ports.settings(c.campaignId).verificationWindowMs : config.defaultWindowMs;
  const owned = [...fresh, ...redelivered];
  const offers = owned.map((c) => confirmationOffer(c, windowOf(c), config.pairingMarginMs));
  const emissions = ports.state.pair(offers);
  const verifications = addEmissions(out, offers, emissions);
  const isFresh = (offer: number) => offer < fresh.length;

  const rows = stepRows();
  for (const c of fresh) rows.add(out, 'confirmations', confirmationRow(c, windowOf(c)), c.offset);
  rows.verifications(
    out,
    verifications.filter((v) => isFresh(v.offer)),
  );
  if (redelivered.length > 0) {
    const fill = (again: Rows) => {
      for (const c of redelivered) rows.add(again, 'confirmations', confirmationRow(c, windowOf(c)), c.offset);
    };
    await rows.redelivered(
      out,
      fill,
      verifications.filter((v) => !isFresh(v.offer)),
      ports.withoutLanded,
    );
  }
  rows.settle(out);
  out.counts.redelivered = redelivered.length;
  out.counts.events = out.confirmations.length; // counted as confirmations (app.ts)
  return out;
}
