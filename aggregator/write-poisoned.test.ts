import { describe, expect, it } from 'vitest';
import { pipeline } from '../schemas/gen/messages.js';
import { silentLog } from '../test/support.js';
import { emptyOutput, type BatchOutput } from './process-batch.js';
import type { Rows, Table } from './rows.js';
import { createPoisonedWriter } from './write-poisoned.js';

const earning = (sourceEventId: string) => ({
  key: 'u',
  value: Buffer.from(pipeline.v1.VerifiedEarning.encode({ version: 1, sourceEventId }).finish()),
});
const source = (topic: string, partition: number, offsets: string[]) => ({
  topic,
  partition,
  messages: offsets.map((offset) => ({ offset, key: Buffer.from(`k${offset}`), value: Buffer.from(`v${offset}`) })),
});
const ids = (parts: readonly Rows[], table: Table) => parts.flatMap((p) => p[table].ids);

/** Three records at offsets 10, 11, 12, each with one event (e10, e11, e12) that earns; e11's row ClickHouse refuses. */
function output(): BatchOutput {
  const out = emptyOutput(source('b', 2, ['10', '11', '12']));
  for (const [i, id] of ['e10', 'e11', 'e12'].entries()) {
    out.events.add({ event_id: id, type: 'IMPRESSION', event_time: 1 }, 10 + i);
    out.earnings.push(earning(id));
    out.earningOrigins.push(10 + i);
  }
  out.attributions.add({ event_id: 'e12', event_type: 'CONVERSION', model: 'click', event_time: 1 }, 12);
  out.deadLetters.push({ key: 'x', value: Buffer.from('earlier'), headers: { dlq_reason: 'undecodable: x' } });
  out.counts = { events: 3, duplicates: 0, redelivered: 0, deadLettered: 1 };
  return out;
}

describe('writePoisoned', () => {
  it('dead-letters the source record of the row ClickHouse refuses, and writes every other row and earning', async () => {
    const inserted: string[] = [];
    const sent: { topic: string; messages: { key: string; value: Buffer; headers?: Record<string, string> }[] }[] = [];
    const refused = Object.assign(
      new Error("Code: 72, e.displayText() = DB::Exception: Unsigned type must not contain '-' symbol"),
      { code: '72', type: 'SERVER_ERROR' },
    );
    const write = createPoisonedWriter(
      { earningsTopic: 'earnings', deadLetterTopic: 'dlq' },
      {
        warehouse: {
          insert: async (parts) => {
            if (ids(parts, 'events').includes('e11')) throw refused;
            inserted.push(...ids(parts, 'events'), ...ids(parts, 'attributions').map((id) => `a:${id}`));
          },
          withoutLanded: async (rows) => rows,
        },
        send: async (topicMessages) => void sent.push(...topicMessages),
        log: silentLog,
      },
    );
    const out = output();
    await write(out, 1);
    expect(inserted.sort()).toEqual(['a:e12', 'e10', 'e12']);
    const [earnings, dlq] = sent;
    expect(earnings!.messages.map((m) => pipeline.v1.VerifiedEarning.decode(m.value).sourceEventId)).toEqual([
      'e10',
      'e12',
    ]);
    expect(dlq!.messages.map((m) => [m.key, m.value.toString(), m.headers?.dlq_reason, m.headers?.dlq_offset])).toEqual(
      [
        ['x', 'earlier', 'undecodable: x', undefined],
        ['k11', 'v11', `clickhouse_72: ${refused.message}`, '11'],
      ],
    );
    expect(out.counts).toMatchObject({ events: 2, deadLettered: 2 });
  });

  it('dead-letters the confirmation record whose rows ClickHouse refuses, with the earning of the pair it completed, and writes the rest', async () => {
    const out = emptyOutput(source('c', 0, ['20', '21']));
    for (const [i, tx] of ['t20', 't21'].entries()) {
      out.confirmations.add({ source: 'admob', transaction_id: tx, received_at: 1 }, 20 + i);
      out.verifications.add({ source: 'admob', transaction_id: tx, event_id: `e${i + 1}`, decided_at: 1 }, 20 + i);
      out.earnings.push(earning(`e${i + 1}`));
      out.earningOrigins.push(20 + i);
    }
    out.counts.events = 2;
    const inserted: string[] = [];
    const sent: { topic: string; messages: { key: string; value: Buffer; headers?: Record<string, string> }[] }[] = [];
    const write = createPoisonedWriter(
      { earningsTopic: 'earnings', deadLetterTopic: 'dlq' },
      {
        warehouse: {
          insert: async (parts) => {
            if (ids(parts, 'verifications').includes('admob:t21'))
              throw Object.assign(new Error('Code: 72, bad'), { code: '72', type: 'SERVER_ERROR' });
            inserted.push(
              ...ids(parts, 'confirmations').map((id) => `c:${id}`),
              ...ids(parts, 'verifications').map((id) => `v:${id}`),
            );
          },
          withoutLanded: async (rows) => rows,
        },
        send: async (topicMessages) => void sent.push(...topicMessages),
        log: silentLog,
      },
    );
    await write(out, 1);
    expect(inserted.sort()).toEqual(['c:admob:t20', 'v:admob:t20']);
    expect(sent[0]!.messages.map((m) => pipeline.v1.VerifiedEarning.decode(m.value).sourceEventId)).toEqual(['e1']);
    expect(sent[1]!.messages.map((m) => [m.key, m.headers?.dlq_offset])).toEqual([['k21', '21']]);
    expect(out.counts).toMatchObject({ events: 1, deadLettered: 1 });
  });

  it('throws a retriable fault met on the way, for the group commit to retry', async () => {
    const write = createPoisonedWriter(
      { earningsTopic: 'earnings', deadLetterTopic: 'dlq' },
      {
        warehouse: {
          insert: async () => Promise.reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })),
          withoutLanded: async (rows) => rows,
        },
        send: async () => {},
        log: silentLog,
      },
    );
    await expect(write(output(), 1)).rejects.toMatchObject({ code: 'ECONNRESET' });
  });
});
