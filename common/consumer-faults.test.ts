import { describe, expect, it } from 'vitest';
import client from 'prom-client';
import { createFailureTracker, isolate, trackJob } from './consumer-faults.js';
import { PipelineError } from './errors.js';
import { kafkaFault } from './kafka-wire.js';
import { classify } from './fault-codes.js';
import { unstorable } from './storable-text.js';

const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code, severity: 'ERROR' });
const chError = (code: string) => Object.assign(new Error(`ch ${code}`), { code, type: 'SOME_TYPE' });
const nodeError = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

describe('classify', () => {
  it.each([
    [
      'a retriable PipelineError',
      new PipelineError('kafka_unreachable', 'down', { retriable: true }),
      'retriable',
      'kafka_unreachable',
    ],
    [
      'a non-retriable PipelineError',
      new PipelineError('payout_state_conflict', 'moved 0 of 1', { retriable: false }),
      'poison',
      'payout_state_conflict',
    ],
    ['a NUL in text (22021)', pgError('22021'), 'poison', 'sqlstate_22021'],
    ['a value too long (22001)', pgError('22001'), 'poison', 'sqlstate_22001'],
    ['a check violation (23514)', pgError('23514'), 'poison', 'sqlstate_23514'],
    ['a dropped connection (08006)', pgError('08006'), 'retriable', 'sqlstate_08006'],
    ['a serialization failure (40001)', pgError('40001'), 'retriable', 'sqlstate_40001'],
    ['a deadlock (40P01)', pgError('40P01'), 'retriable', 'sqlstate_40P01'],
    ['an undefined table during a deploy (42P01)', pgError('42P01'), 'retriable', 'sqlstate_42P01'],
    ['too many connections (53300)', pgError('53300'), 'retriable', 'sqlstate_53300'],
    ['an admin shutdown (57P01)', pgError('57P01'), 'retriable', 'sqlstate_57P01'],
    ['a lock not available (55P03)', pgError('55P03'), 'retriable', 'sqlstate_55P03'],
    ['an index row too large (54000)', pgError('54000'), 'poison', 'sqlstate_54000'],
    ['an unparsable ClickHouse row (27)', chError('27'), 'poison', 'clickhouse_27'],
    ['a ClickHouse type mismatch (53): a schema not migrated yet', chError('53'), 'retriable', 'clickhouse_53'],
    ['a ClickHouse unknown field (117): a schema not migrated yet', chError('117'), 'retriable', 'clickhouse_117'],
    [
      'a broker fault about the producer, not the records',
      kafkaFault(59, 'produce'),
      'retriable',
      'unknown_producer_id',
    ],
    ['an unknown broker error code', kafkaFault(999, 'produce'), 'retriable', 'kafka_error_999'],
    ['a broker refusing the records as too large', kafkaFault(10, 'produce'), 'poison', 'message_too_large'],
    ['ClickHouse out of memory (241)', chError('241'), 'retriable', 'clickhouse_241'],
    ['ClickHouse too many parts (252)', chError('252'), 'retriable', 'clickhouse_252'],
    ['a refused connection', nodeError('ECONNREFUSED'), 'retriable', 'ECONNREFUSED'],
    ['a timeout', nodeError('ETIMEDOUT'), 'retriable', 'ETIMEDOUT'],
    [
      'a kafkajs error, even one it calls non-retriable',
      Object.assign(new Error('retries exceeded'), { name: 'KafkaJSNumberOfRetriesExceeded', retriable: false }),
      'retriable',
      'KafkaJSNumberOfRetriesExceeded',
    ],
    [
      'a Postgres error wrapped as a cause',
      new Error('post failed', { cause: pgError('22P05') }),
      'poison',
      'sqlstate_22P05',
    ],
    ['an unknown error', new Error('something odd'), 'retriable', 'unknown'],
    ['a thrown string', 'oops', 'retriable', 'unknown'],
  ])('sorts %s', (_name, err, kind, code) => {
    expect(classify(err)).toMatchObject({ kind, code });
  });

  it('gives a reason of code and message for the dead letter', () => {
    expect(classify(pgError('22021')).reason).toBe('sqlstate_22021: pg 22021');
  });
});

describe('isolate', () => {
  /** A run over numbers that fails with `err` whenever a bad number is in the part; it records each part. */
  const runner = (bad: Set<number>, err: () => unknown = () => pgError('22021')) => {
    const runs: number[][] = [];
    const done: number[] = [];
    return {
      runs,
      done,
      run: async (part: number[]) => {
        runs.push(part);
        if (part.some((n) => bad.has(n))) throw err();
        done.push(...part);
        return part.length;
      },
    };
  };

  it.each([
    { name: 'runs a clean step once', items: [1, 2, 3, 4], bad: [], poison: [], runs: 1 },
    {
      name: 'finds one poisoned record among eight and runs the other seven',
      items: [1, 2, 3, 4, 5, 6, 7, 8],
      bad: [6],
      poison: [6],
      runs: 7,
    },
    { name: 'finds two poisoned records', items: [1, 2, 3, 4, 5], bad: [1, 5], poison: [1, 5], runs: 9 },
    { name: 'sets aside a lone poisoned record', items: [9], bad: [9], poison: [9], runs: 1 },
    {
      name: 'sets aside every record when all are poison',
      items: [1, 2, 3],
      bad: [1, 2, 3],
      poison: [1, 2, 3],
      runs: 5,
    },
  ])('$name', async ({ items, bad, poison, runs }) => {
    const r = runner(new Set(bad));
    const out = await isolate(items, r.run);
    expect(out.poison.map((p) => p.item)).toEqual(poison);
    expect(out.poison.every((p) => p.fault.reason.startsWith('sqlstate_22021: '))).toBe(true);
    expect(r.done).toEqual(items.filter((n) => !bad.includes(n)));
    expect(r.runs).toHaveLength(runs);
  });

  it('with allPoisonRetriable, throws a retriable fault when every record of a step fails alone', async () => {
    const r = runner(new Set([1, 2, 3]));
    await expect(isolate([1, 2, 3], r.run, { allPoisonRetriable: true })).rejects.toMatchObject({
      code: 'every_record_refused',
      retriable: true,
    });
    expect(r.done).toEqual([]);
  });

  it.each([
    { name: 'one poisoned record among good ones', items: [1, 2, 3], bad: [2], poison: [2] },
    { name: 'a lone poisoned record', items: [9], bad: [9], poison: [9] },
  ])('with allPoisonRetriable, still sets aside $name', async ({ items, bad, poison }) => {
    const out = await isolate(items, runner(new Set(bad)).run, { allPoisonRetriable: true });
    expect(out.poison.map((p) => p.item)).toEqual(poison);
  });

  it('throws a retriable fault at once, without splitting', async () => {
    const r = runner(new Set([2]), () => pgError('40001'));
    await expect(isolate([1, 2, 3, 4], r.run)).rejects.toMatchObject({ code: '40001' });
    expect(r.runs).toEqual([[1, 2, 3, 4]]);
  });

  it('throws a retriable fault met in a half, after the other half ran', async () => {
    let calls = 0;
    const run = async (part: number[]) => {
      calls++;
      if (calls === 1) throw pgError('23514');
      if (part.includes(3)) throw nodeError('ECONNRESET');
      return part;
    };
    await expect(isolate([1, 2, 3, 4], run)).rejects.toMatchObject({ code: 'ECONNRESET' });
  });
});

describe('failure tracker', () => {
  const metric = async (registry: client.Registry, name: string) =>
    (await registry.getSingleMetric(name)!.get()).values;

  it('stalls a consumer after stallAfter failures in a row, until it succeeds', async () => {
    const registry = new client.Registry();
    const tracker = createFailureTracker({ service: 'test', stallAfter: 3 }, { registry });
    for (let i = 0; i < 2; i++) tracker.failed('p0', pgError('08006'));
    expect(tracker.stalled).toBe(false);
    tracker.failed('p1', pgError('08006')); // another partition's count is its own
    expect(tracker.stalled).toBe(false);
    tracker.failed('p0', new Error('unknown'));
    expect(tracker.stalled).toBe(true);
    expect((await metric(registry, 'test_consumer_stalled'))[0]!.value).toBe(1);
    tracker.succeeded('p1');
    expect(tracker.stalled).toBe(true);
    tracker.succeeded('p0');
    expect(tracker.stalled).toBe(false);
    expect((await metric(registry, 'test_consumer_stalled'))[0]!.value).toBe(0);
    for (let i = 0; i < 3; i++) tracker.failed('t:1', pgError('08006'));
    tracker.failed('group', pgError('08006'));
    tracker.retain({ t: [0] }); // t:1 moved to another process; 'group' is no partition
    expect(tracker.stalled).toBe(false);
    tracker.failed('group', pgError('08006'));
    tracker.failed('group', pgError('08006'));
    expect(tracker.stalled).toBe(true);
    tracker.succeeded('group');
    tracker.poisoned(2);
    const failures = await metric(registry, 'test_consumer_failures_total');
    expect(Object.fromEntries(failures.map((v) => [v.labels.kind, v.value]))).toEqual({ retriable: 10, poison: 2 });
  });

  it.each([
    { name: 'passes a success through', err: undefined, thrown: undefined, poison: 0, retriable: 0 },
    {
      name: 'turns poison into the unrecoverable error, with its reason',
      err: new PipelineError('payout_state_conflict', 'moved 0 of 1', { retriable: false }),
      thrown: 'unrecoverable: payout_state_conflict: moved 0 of 1',
      poison: 1,
      retriable: 0,
    },
    {
      name: 'throws a retriable fault as it is, for the queue to back off and retry',
      err: nodeError('ECONNREFUSED'),
      thrown: 'connect ECONNREFUSED',
      poison: 0,
      retriable: 1,
    },
  ])('trackJob $name', async ({ err, thrown, poison, retriable }) => {
    const registry = new client.Registry();
    const tracker = createFailureTracker({ service: 'test', stallAfter: 1 }, { registry });
    const work = trackJob(
      tracker,
      'q',
      async () => {
        if (err) throw err;
        return 'ok';
      },
      (reason) => new Error(`unrecoverable: ${reason}`),
    );
    if (thrown) await expect(work).rejects.toThrow(thrown);
    else await expect(work).resolves.toBe('ok');
    const failures = await metric(registry, 'test_consumer_failures_total');
    expect(Object.fromEntries(failures.map((v) => [v.labels.kind, v.value]))).toEqual({ retriable, poison });
    expect(tracker.stalled).toBe(retriable > 0);
  });
});

it("trackJob counts a scheduled job's poison towards the stall: it has no record to set aside", async () => {
  const tracker = createFailureTracker({ service: 'test', stallAfter: 1 }, { registry: new client.Registry() });
  const work = trackJob(
    tracker,
    'q/form',
    async () => {
      throw new PipelineError('payout_state_conflict', 'moved 0 of 1', { retriable: false });
    },
    (reason) => new Error(`unrecoverable: ${reason}`),
    { scheduled: true },
  );
  await expect(work).rejects.toThrow('unrecoverable: payout_state_conflict');
  expect(tracker.stalled).toBe(true);
});

describe('unstorable', () => {
  it.each([
    ['plain text', 'user-1', undefined],
    ['a surrogate pair (emoji)', 'u\u{1F600}', undefined],
    ['a NUL', 'u\u0000', 'nul'],
    ['a lone high surrogate', 'u\uD800x', 'lone_surrogate'],
    ['a lone low surrogate', '\uDC00', 'lone_surrogate'],
    ['a high surrogate at the end', 'u\uDBFF', 'lone_surrogate'],
  ])('judges %s', (_name, s, why) => {
    expect(unstorable(s)).toBe(why);
  });
});
