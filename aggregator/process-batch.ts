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
import { layouts } from './rowbinary.js';
import {
  attributionRow,
  deadlineRow,
  emptyRows,
  eventRow,
  rowsFrom,
  tables,
  type OutMessage,
  type Rows,
  type Table,
  type VerificationRow,
} from './rows.js';
import { stateKey as key, type StateWrite } from './state.js';
import type { StepState } from './step-state.js';

export interface Needs {
  touches: string[];
  clicks: string[];
  flood: string[];
  flags: string[];
}

export interface BatchPorts {
  /** The step's state: its partition's and the shared one (step-state.ts). */
  state: StepState;
  /** The rows without those ClickHouse already holds. */
  withoutLanded(rows: Rows): Promise<Rows>;
  settings(campaignId: string): CampaignSettings;
}

export interface KafkaMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}
/** A step's output; each row knows the offset of the record it came from (RowSet origins). */
export interface BatchOutput extends Rows {
  earnings: OutMessage[];
  /** The offset of the record each earning came from: a record whose row ClickHouse refuses loses its earnings (write-poisoned.ts). */
  earningOrigins: number[];
  /** Each verification row's reason, in order (metrics). */
  verdicts: string[];
  deadLetters: OutMessage[];
  counts: { events: number; duplicates: number; redelivered: number; deadLettered: number };
  /** The records read: what a refused row dead-letters. */
  source: { topic: string; partition: number; messages: KafkaMessage[] };
}

/** The offset in a position "<topic>:<partition>:<offset>:<index>" (a topic name has no colon). */
export const offsetOf = (position: string) => Number(position.split(':').at(-2));

/** A verification row, the offset of the record it came from and its offer's index. */
export interface Verification {
  row: VerificationRow;
  origin: number;
  offer: number;
}

/** The verification rows of the pairing's emissions, each with the offset of its offer's record; earnings go to `out`. */
export function addEmissions(out: BatchOutput, offers: Offer[], emissions: Emission[]): Verification[] {
  return emissions.map((emission) => {
    const { verification, earning } = decided(emission);
    const origin = offsetOf(offers[emission.offer]!.position);
    if (earning) {
      out.earnings.push(earning);
      out.earningOrigins.push(origin);
    }
    return { row: verification, origin, offer: emission.offer };
  });
}

/**
 * Rows as a step adds them: a row a column cannot hold (a value out of its type's range) refuses its
 * whole record, which `settle` then dead-letters, whatever else the step holds.
 */
export function stepRows() {
  const refused = new Map<number, string>();
  return {
    add(rows: Rows, table: Table, row: object | undefined, origin: number): void {
      const why = row && rows[table].add(row, origin);
      if (why !== undefined && !refused.has(origin)) refused.set(origin, why);
    },
    /** Verification rows into `out`, each added one with its reason. */
    verifications(out: BatchOutput, list: Verification[]): void {
      for (const { row, origin } of list) {
        this.add(out, 'verifications', row, origin);
        if (out.verifications.length > out.verdicts.length) out.verdicts.push(row.reason);
      }
    },
    /**
     * A redelivery's rows (`fill`) and re-emitted verifications into `out`, but only those ClickHouse
     * does not hold: the crash may have come after the insert.
     */
    async redelivered(
      out: BatchOutput,
      fill: (again: Rows) => void,
      reemitted: Verification[],
      withoutLanded: BatchPorts['withoutLanded'],
    ): Promise<void> {
      const again = emptyRows();
      fill(again);
      for (const v of reemitted) this.add(again, 'verifications', v.row, v.origin);
      const landed = await withoutLanded(again);
      for (const t of tables) out[t].append(landed[t]);
      const inserted = new Set(landed.verifications.ids);
      out.verdicts.push(
        ...reemitted.filter((v) => inserted.has(layouts.verifications.identity.of(v.row)[0])).map((v) => v.row.reason),
      );
    },
    /** Drops the rows and earnings of each refused record and dead-letters it with the column's reason. */
    settle(out: BatchOutput): void {
      if (refused.size === 0) return;
      const keep = (origin: number) => !refused.has(origin);
      out.verdicts = out.verdicts.filter((_, i) => keep(out.verifications.origins[i]!));
      Object.assign(out, rowsFrom(out, keep));
      out.earnings = out.earnings.filter((_, i) => keep(out.earningOrigins[i]!));
      out.earningOrigins = out.earningOrigins.filter(keep);
      for (const m of out.source.messages) {
        const why = refused.get(Number(m.offset));
        if (why === undefined) continue;
        out.deadLetters.push(deadLetter(m, `unstorable_value: ${why}`, out.source));
        out.counts.deadLettered++;
      }
    },
  };
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
  ...emptyRows(),
  earnings: [],
  earningOrigins: [],
  verdicts: [],
  deadLetters: [],
  counts: { events: 0, duplicates: 0, redelivered: 0, deadLettered: 0 },
  source: batch,
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
  const { decisions, writes } = decide(
    events,
    snapshot,
    { settings: ports.settings, maxClicksPerDeviceHour: config.maxClicksPerDeviceHour },
    known,
  );

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
  for (const [list, isFresh] of [
    [fresh, true],
    [redelivered, false],
  ] as const) {
    for (const [e, d] of list) {
      const offer = eventOffer(e, d, windowOf(e), config.pairingMarginMs);
      if (offer && isFresh) freshOffers.add(offers.length);
      if (offer) offers.push(offer);
    }
  }
  const emissions = ports.state.pair(offers);
  const verifications = addEmissions(out, offers, emissions);

  const rows = stepRows();
  const addEvents = (to: Rows, list: [InEvent, Decision][]) => {
    for (const [e, d] of list) {
      rows.add(to, 'events', eventRow(e, d), e.offset);
      rows.add(to, 'attributions', attributionRow(e, d), e.offset);
      rows.add(to, 'deadlines', deadlineRow(e, d, windowOf(e)), e.offset);
    }
  };
  addEvents(out, fresh);
  rows.verifications(
    out,
    verifications.filter((v) => freshOffers.has(v.offer)),
  );
  if (redelivered.length > 0) {
    await rows.redelivered(
      out,
      (again) => addEvents(again, redelivered),
      verifications.filter((v) => !freshOffers.has(v.offer)),
      ports.withoutLanded,
    );
  }
  rows.settle(out);
  out.counts.redelivered = redelivered.length;
  out.counts.events = out.events.length;
  return out;
}
