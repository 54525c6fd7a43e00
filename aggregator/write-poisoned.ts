// A step's output that ClickHouse refuses as poison (group-commit.ts `poisoned`): its rows are split
// by source record until the record at fault is alone; that record is dead-lettered with the reason
// and its earnings dropped, and the rest is written. Its claims stay (README "Failure semantics").
import { isolate } from '../common/consumer-faults.js';
import type { Logger } from '../common/log.js';
import { pipeline } from '../schemas/gen/messages.js';
import { deadLetter } from '../schemas/records.js';
import { rowOrigin, type BatchOutput } from './process-batch.js';
import { emptyRows, type OutMessage, type Rows } from './rows.js';

interface Unit extends Rows { offset: string; earnings: OutMessage[] }

export function createPoisonedWriter(
  config: { earningsTopic: string; deadLetterTopic: string },
  deps: {
    warehouse: { insert(rows: Rows): Promise<void>; withoutLanded(rows: Rows): Promise<Rows> };
    send(topicMessages: { topic: string; messages: OutMessage[] }[]): Promise<unknown>;
    log: Logger;
  },
) {
  /** One unit per source record (by offset): its rows and its earnings. */
  function unitsOf(output: BatchOutput): Unit[] {
    const units = new Map<string, Unit>();
    const unit = (origin: string) => {
      const offset = output.origins.get(origin) ?? '';
      let u = units.get(offset);
      if (!u) units.set(offset, u = { offset, ...emptyRows(), earnings: [] });
      return u;
    };
    for (const r of output.events) unit(rowOrigin.event(r.event_id)).events.push(r);
    for (const r of output.attributions) unit(rowOrigin.event(r.event_id)).attributions.push(r);
    for (const r of output.deadlines) unit(rowOrigin.event(r.event_id)).deadlines.push(r);
    for (const r of output.confirmations) unit(rowOrigin.confirmation(r)).confirmations.push(r);
    for (const r of output.verifications) unit(rowOrigin.verification(r)).verifications.push(r);
    for (const m of output.earnings) unit(rowOrigin.earning(pipeline.v1.VerifiedEarning.decode(m.value).sourceEventId)).earnings.push(m);
    return [...units.values()];
  }

  /** Writes what ClickHouse takes of `output`, dead-letters the rest; `attempt` > 0: parts may have landed. */
  return async function writePoisoned(output: BatchOutput, attempt: number): Promise<void> {
    const units = unitsOf(output);
    const { poison } = await isolate(units, async (part) => {
      let rows: Rows = {
        events: part.flatMap((u) => u.events), attributions: part.flatMap((u) => u.attributions), deadlines: part.flatMap((u) => u.deadlines),
        confirmations: part.flatMap((u) => u.confirmations), verifications: part.flatMap((u) => u.verifications),
      };
      if (attempt > 0) rows = await deps.warehouse.withoutLanded(rows); // one table of two may have taken a failed part
      await deps.warehouse.insert(rows);
    }, { allPoisonRetriable: true });
    const refused = new Set(poison.map((p) => p.item.offset));
    const bySource = new Map(output.source.messages.map((m) => [m.offset, m]));
    const deadLetters = poison.flatMap(({ item, fault }) => {
      deps.log.warn({ reason: fault.reason, partition: output.source.partition, offset: item.offset }, 'beacon_dead_lettered');
      const m = bySource.get(item.offset);
      return m ? [deadLetter(m, fault.reason, output.source)] : [];
    });
    output.counts.deadLettered += deadLetters.length;
    output.counts.events -= units.filter((u) => refused.has(u.offset)).reduce((n, u) => n + u.events.length + u.confirmations.length, 0);
    output.earnings = units.filter((u) => !refused.has(u.offset)).flatMap((u) => u.earnings);
    await deps.send([
      { topic: config.earningsTopic, messages: output.earnings },
      { topic: config.deadLetterTopic, messages: [...output.deadLetters, ...deadLetters] },
    ]);
  };
}
