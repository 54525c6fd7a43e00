// What the records of schemas/topics.ts share across services: the earning id every earnings record
// carries, and the layout of a dead letter.
import { nameUuid } from '../common/name-uuid.js';

/** A stable earning id from the source event id: replays give the same earning id. */
export const earningId = (sourceEventId: string): string => nameUuid(`earning/v1/${sourceEventId}`);

export interface DeadLetter {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/** A poison record for a dead-letter topic: its original key and bytes, with why and where it was read. */
export function deadLetter(
  m: { key: Buffer | null; value: Buffer | null; offset: string },
  reason: string,
  at: { topic: string; partition: number },
): DeadLetter {
  return {
    key: m.key?.toString() ?? '',
    value: m.value ?? Buffer.alloc(0),
    headers: { dlq_reason: reason, dlq_topic: at.topic, dlq_partition: String(at.partition), dlq_offset: m.offset },
  };
}
