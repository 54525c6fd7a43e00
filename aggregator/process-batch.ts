// One partition's batch of beacon records -> rows, earnings and dead letters, exactly once. What is
// known of each event comes from its partition's state (step-state.ts):
//   - a record after the last one the partition decided: each event is claimed (exact, for the dedup
//     window); a new one is decided and its rows are produced, an id claimed before (SDK retry,
//     replay, an earlier copy in the batch) is a duplicate, dropped and counted;
//   - a record at or before it: a redelivery (a crash or rebalance before the commit); an event it
//     decided keeps its stored decision and only rows ClickHouse does not hold yet are produced, one
//     it found a duplicate stays one.
// Then the rewardable events are offered to the pairing (pairing-local.ts); an event earns only with
// its confirmation, in the batch of whichever of the two completes the pair.
import { EventType } from '../schemas/beacon-json.js';
import { decide, type CampaignSettings, type Decision } from './attribution.js';
import { readRecord, type InEvent } from './records.js';
import { deadLetter } from '../schemas/records.js';
import { decided, eventOffer, type Emission, type Offer } from './pairing.js';
import { attributionRow, deadlineRow, emptyRows, eventRow, type OutMessage, type Rows, type VerificationRow } from './rows.js';
import { stateKey as key, type StateWrite } from './state.js';
import type { StepState } from './step-state.js';

export interface Needs { touches: string[]; clicks: string[]; flood: string[]; flags: string[] }

export interface BatchPorts {
  /** The step's state: its partition's and the shared one (step-state.ts). */
  state: StepState;
  /** The rows without those ClickHouse already holds. */
  withoutLanded(rows: Rows): Promise<Rows>;
  settings(campaignId: string): CampaignSettings;
}

export interface KafkaMessage { offset: string; key: Buffer | null; value: Buffer | null }
export interface BatchOutput extends Rows {
  earnings: OutMessage[];
  deadLetters: OutMessage[];
  counts: { events: number; duplicates: number; redelivered: number; deadLettered: number };
  /**
   * The records read, and the offset of the record each row and earning came from (keys: rowOrigin,
   * write-poisoned.ts): what a row ClickHouse refuses dead-letters.
   */
  source: { topic: string; partition: number; messages: KafkaMessage[] };
  origins: Map<string, string>;
}

/** The key under which `origins` holds the offset a row or earning came from. */
export const rowOrigin = {
  event: (eventId: string) => eventId,
  confirmation: (r: { source: string; transaction_id: string }) => `c:${r.source}:${r.transaction_id}`,
  verification: (r: { source: string; transaction_id: string }) => `v:${r.source}:${r.transaction_id}`,
  earning: (sourceEventId: string) => `earning:${sourceEventId}`,
};

/** The offset in a position "<topic>:<partition>:<offset>:<index>" (a topic name has no colon). */
export const offsetOf = (position: string) => position.split(':').at(-2)!;

/** Verification rows and earnings of the pairing's emissions, each noted in `out.origins`. */
export function addEmissions(out: BatchOutput, offers: Offer[], emissions: Emission[]): VerificationRow[] {
  return emissions.map((emission) => {
    const { verification, earning } = decided(emission);
    const offset = offsetOf(offers[emission.offer]!.position);
    out.origins.set(rowOrigin.verification(verification), offset);
    if (earning) {
      out.earnings.push(earning);
      out.origins.set(rowOrigin.earning(verification.event_id), offset);
    }
    return verification;
  });
}

function needsOf(events: InEvent[]): Needs {
  const touches = new Set<string>();
  const clicks = new Set<string>();
  const flood = new Set<string>();
  const flags = new Set<string>();
  for (const e of events) {
    if (e.type === EventType.CONVERSION) {
      touches.add(key.clicks(e)).add(key.device(e)).add(key.views(e));
      if (e.clickId) clicks.add(key.namedClick(e));
      flags.add(key.flags(e));
    } else if (e.type === EventType.REWARD_COMPLETE) {
      touches.add(key.views(e));
      flags.add(key.flags(e));
    } else if (e.type === EventType.CLICK) flood.add(key.flood(e));
  }
  return { touches: [...touches], clicks: [...clicks], flood: [...flood], flags: [...flags] };
}

export const emptyOutput = (batch: BatchOutput['source']): BatchOutput => ({
  ...emptyRows(), earnings: [], deadLetters: [], counts: { events: 0, duplicates: 0, redelivered: 0, deadLettered: 0 }, source: batch, origins: new Map(),
});

export async function processBatch(
  config: { maxClicksPerDeviceHour: number; pairingMarginMs: number },
  ports: BatchPorts,
  batch: { topic: string; partition: number; messages: KafkaMessage[] },
): Promise<BatchOutput> {
  const out = emptyOutput(batch);
  const events: InEvent[] = [];
  for (const m of batch.messages) {
    const read = readRecord(m.value, { topic: batch.topic, partition: batch.partition, offset: m.offset });
    if (read.ok) events.push(...read.events);
    else {
      out.deadLetters.push(deadLetter(m, read.reason, batch));
      out.counts.deadLettered++;
    }
  }
  if (events.length === 0) return out;

  // What is known of each event: undefined when new (now claimed), null for a duplicate, the stored
  // decision of a redelivered one.
  const through = ports.state.decidedThrough('b');
  const known = events.map((e): Decision | null | undefined => {
    if (e.offset <= through) return ports.state.known('b', e.offset, e.index);
    if (ports.state.claimIfNew(e.id)) return undefined;
    ports.state.duplicate(e.offset, e.index);
    return null;
  });
  const snapshot = await ports.state.load(needsOf(events.filter((_, i) => known[i] !== null)));
  const { decisions, writes } = decide(events, snapshot, { settings: ports.settings, maxClicksPerDeviceHour: config.maxClicksPerDeviceHour }, known);

  const fresh: [InEvent, Decision][] = [];
  const redelivered: [InEvent, Decision][] = [];
  const owned: StateWrite[] = [];
  events.forEach((e, i) => {
    const k = known[i];
    if (k === null) return void out.counts.duplicates++;
    if (k) return void redelivered.push([e, k]);
    fresh.push([e, decisions[i]!]);
    ports.state.decided(e.offset, e.index, decisions[i]!);
    owned.push(...writes[i]!); // a redelivered event's writes are in the state already
  });
  await ports.state.apply(owned);

  // After the claims too: a duplicate never offers. A redelivered event offers again, and re-emits
  // the pair only if its record completed it (then with the same earning).
  const windowOf = (e: InEvent) => ports.settings(e.campaignId).verificationWindowMs;
  const offers: Offer[] = [];
  const freshOffers = new Set<number>();
  for (const [list, isFresh] of [[fresh, true], [redelivered, false]] as const) {
    for (const [e, d] of list) {
      const offer = eventOffer(e, d, windowOf(e), config.pairingMarginMs);
      if (offer && isFresh) freshOffers.add(offers.length);
      if (offer) offers.push(offer);
    }
  }
  const emissions = ports.state.pair(offers);
  const verifications = addEmissions(out, offers, emissions);

  const rows = (list: [InEvent, Decision][]): Rows => ({
    ...emptyRows(),
    events: list.map(([e, d]) => eventRow(e, d)),
    attributions: list.flatMap(([e, d]) => attributionRow(e, d) ?? []),
    deadlines: list.flatMap(([e, d]) => deadlineRow(e, d, windowOf(e)) ?? []),
  });
  const fromFresh = { ...rows(fresh), verifications: verifications.filter((_, i) => freshOffers.has(emissions[i]!.offer)) };
  // A redelivered event may already be in ClickHouse (the crash came after the insert): ask.
  const again = { ...rows(redelivered), verifications: verifications.filter((_, i) => !freshOffers.has(emissions[i]!.offer)) };
  const fromRedelivered = again.events.length + again.verifications.length > 0 ? await ports.withoutLanded(again) : emptyRows();
  out.counts.redelivered = redelivered.length;
  out.events = [...fromFresh.events, ...fromRedelivered.events];
  out.attributions = [...fromFresh.attributions, ...fromRedelivered.attributions];
  out.deadlines = [...fromFresh.deadlines, ...fromRedelivered.deadlines];
  out.verifications = [...fromFresh.verifications, ...fromRedelivered.verifications];
  out.counts.events = out.events.length;
  for (const list of [fresh, redelivered]) for (const [e] of list) out.origins.set(rowOrigin.event(e.id), String(e.offset));
  return out;
}
