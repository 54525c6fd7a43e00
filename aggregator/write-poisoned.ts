// A step's output that ClickHouse refuses as poison (group-commit.ts `poisoned`): its rows are split
// by source record until the record at fault is alone; that record is dead-lettered with the reason
// and its earnings dropped, and the rest is written. Its claims stay (README "Failure semantics").
import { isolate } from '../common/consumer-faults.js';
import type { Logger } from '../common/log.js';
import { deadLetter } from '../schemas/records.js';
import type { BatchOutput } from './process-batch.js';
import { rowsFrom, tables, type OutMessage, type Rows } from './rows.js';

export function createPoisonedWriter(
  config: { earningsTopic: string; deadLetterTopic: string },
  deps: {
    warehouse: { insert(parts: readonly Rows[]): Promise<void>; withoutLanded(rows: Rows): Promise<Rows> };
    send(topicMessages: { topic: string; messages: OutMessage[] }[]): Promise<unknown>;
    log: Logger;
  },
) {
  /** Writes what ClickHouse takes of `output`, dead-letters the rest; `attempt` > 0: parts may have landed. */
  return async function writePoisoned(output: BatchOutput, attempt: number): Promise<void> {
    // One unit per source record (by offset): its rows and its earnings.
    const units = [...new Set([...tables.flatMap((t) => output[t].origins), ...output.earningOrigins])];
    const { poison } = await isolate(
      units,
      async (part) => {
        const offsets = new Set(part);
        let rows = rowsFrom(output, (origin) => offsets.has(origin));
        if (attempt > 0) rows = await deps.warehouse.withoutLanded(rows); // one table of two may have taken a failed part
        await deps.warehouse.insert([rows]);
      },
      { allPoisonRetriable: true },
    );
    const refused = new Set(poison.map((p) => p.item));
    const bySource = new Map(output.source.messages.map((m) => [Number(m.offset), m]));
    const deadLetters = poison.flatMap(({ item, fault }) => {
      deps.log.warn({ reason: fault.reason, partition: output.source.partition, offset: item }, 'beacon_dead_lettered');
      const m = bySource.get(item);
      return m ? [deadLetter(m, fault.reason, output.source)] : [];
    });
    output.counts.deadLettered += deadLetters.length;
    output.counts.events -= [...output.events.origins, ...output.confirmations.origins].filter((o) =>
      refused.has(o),
    ).length;
    output.earnings = output.earnings.filter((_, i) => !refused.has(output.earningOrigins[i]!));
    await deps.send([
      { topic: config.earningsTopic, messages: output.earnings },
      { topic: config.deadLetterTopic, messages: [...output.deadLetters, ...deadLetters] },
    ]);
  };
}
