import { describe, expect, it } from 'vitest';
import { pipeline } from '../schemas/gen/messages.js';
import { silentLog } from '../test/support.js';
import type { BatchOutput } from './process-batch.js';
import type { Rows } from './warehouse-clickhouse.js';
import { createPoisonedWriter } from './write-poisoned.js';

const earning = (sourceEventId: string) => ({ key: 'u', value: Buffer.from(pipeline.v1.VerifiedEarning.encode({ version: 1, sourceEventId }).finish()) });
const row = (eventId: string) => ({ event_id: eventId, event_time: 1 }) as unknown as Rows['events'][number];

/** Three records at offsets 10, 11, 12, each with one event (e10, e11, e12) that earns; e11's row ClickHouse refuses. */
function output(): BatchOutput {
  const ids = ['e10', 'e11', 'e12'];
  return {
    events: ids.map(row), attributions: [row('e12')] as unknown as BatchOutput['attributions'], deadlines: [], confirmations: [], verifications: [], earnings: ids.map(earning),
    deadLetters: [{ key: 'x', value: Buffer.from('earlier'), headers: { dlq_reason: 'undecodable: x' } }],
    counts: { events: 3, duplicates: 0, redelivered: 0, deadLettered: 1 },
    source: { topic: 'b', partition: 2, messages: ['10', '11', '12'].map((offset) => ({ offset, key: Buffer.from(`k${offset}`), value: Buffer.from(`v${offset}`) })) },
    origins: new Map(ids.flatMap((id) => [[id, id.slice(1)], [`earning:${id}`, id.slice(1)]])),
  };
}

describe('writePoisoned', () => {
  it('dead-letters the source record of the row ClickHouse refuses, and writes every other row and earning', async () => {
    const inserted: string[] = [];
    const sent: { topic: string; messages: { key: string; value: Buffer; headers?: Record<string, string> }[] }[] = [];
    const refused = Object.assign(new Error("Code: 72, e.displayText() = DB::Exception: Unsigned type must not contain '-' symbol"), { code: '72', type: 'SERVER_ERROR' });
    const write = createPoisonedWriter({ earningsTopic: 'earnings', deadLetterTopic: 'dlq' }, {
      warehouse: {
        insert: async (rows) => {
          if (rows.events.some((r) => r.event_id === 'e11')) throw refused;
          inserted.push(...rows.events.map((r) => r.event_id), ...rows.attributions.map((r) => `a:${r.event_id}`));
        },
        withoutLanded: async (rows) => rows,
      },
      send: async (topicMessages) => void sent.push(...topicMessages), log: silentLog,
    });
    const out = output();
    await write(out, 1);
    expect(inserted.sort()).toEqual(['a:e12', 'e10', 'e12']);
    const [earnings, dlq] = sent;
    expect(earnings!.messages.map((m) => pipeline.v1.VerifiedEarning.decode(m.value).sourceEventId)).toEqual(['e10', 'e12']);
    expect(dlq!.messages.map((m) => [m.key, m.value.toString(), m.headers?.dlq_reason, m.headers?.dlq_offset])).toEqual([
      ['x', 'earlier', 'undecodable: x', undefined],
      ['k11', 'v11', `clickhouse_72: ${refused.message}`, '11'],
    ]);
    expect(out.counts).toMatchObject({ events: 2, deadLettered: 2 });
  });

  it('dead-letters the confirmation record whose rows ClickHouse refuses, with the earning of the pair it completed, and writes the rest', async () => {
    const conf = (tx: string) => ({ source: 'admob', transaction_id: tx, received_at: 1 }) as unknown as BatchOutput['confirmations'][number];
    const ver = (tx: string, eventId: string) => ({ source: 'admob', transaction_id: tx, event_id: eventId, decided_at: 1, reason: '' }) as unknown as BatchOutput['verifications'][number];
    const out: BatchOutput = {
      events: [], attributions: [], deadlines: [], confirmations: [conf('t20'), conf('t21')], verifications: [ver('t20', 'e1'), ver('t21', 'e2')],
      earnings: [earning('e1'), earning('e2')], deadLetters: [], counts: { events: 2, duplicates: 0, redelivered: 0, deadLettered: 0 },
      source: { topic: 'c', partition: 0, messages: ['20', '21'].map((offset) => ({ offset, key: Buffer.from(`k${offset}`), value: Buffer.from(`v${offset}`) })) },
      origins: new Map([['c:admob:t20', '20'], ['c:admob:t21', '21'], ['v:admob:t20', '20'], ['v:admob:t21', '21'], ['earning:e1', '20'], ['earning:e2', '21']]),
    };
    const inserted: string[] = [];
    const sent: { topic: string; messages: { key: string; value: Buffer; headers?: Record<string, string> }[] }[] = [];
    const write = createPoisonedWriter({ earningsTopic: 'earnings', deadLetterTopic: 'dlq' }, {
      warehouse: {
        insert: async (rows) => {
          if (rows.verifications.some((r) => r.transaction_id === 't21')) throw Object.assign(new Error('Code: 72, bad'), { code: '72', type: 'SERVER_ERROR' });
          inserted.push(...rows.confirmations.map((r) => `c:${r.transaction_id}`), ...rows.verifications.map((r) => `v:${r.transaction_id}`));
        },
        withoutLanded: async (rows) => rows,
      },
      send: async (topicMessages) => void sent.push(...topicMessages), log: silentLog,
    });
    await write(out, 1);
    expect(inserted.sort()).toEqual(['c:t20', 'v:t20']);
    expect(sent[0]!.messages.map((m) => pipeline.v1.VerifiedEarning.decode(m.value).sourceEventId)).toEqual(['e1']);
    expect(sent[1]!.messages.map((m) => [m.key, m.headers?.dlq_offset])).toEqual([['k21', '21']]);
    expect(out.counts).toMatchObject({ events: 1, deadLettered: 1 });
  });

  it('throws a retriable fault met on the way, for the group commit to retry', async () => {
    const write = createPoisonedWriter({ earningsTopic: 'earnings', deadLetterTopic: 'dlq' }, {
      warehouse: { insert: async () => Promise.reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), withoutLanded: async (rows) => rows },
      send: async () => {}, log: silentLog,
    });
    await expect(write(output(), 1)).rejects.toMatchObject({ code: 'ECONNRESET' });
  });
});
