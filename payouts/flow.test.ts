// The flow's batch moves, with a fake store, provider and queues: a poll never moves a batch that was
// never sent (it queues its submit), and every move names the state it starts from.
import { describe, expect, it } from 'vitest';
import { PipelineError } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { createPayoutFlow } from './flow.js';
import { createMetrics } from './metrics.js';
import type { Answer, Item, ItemResult, Provider } from './providers/provider.js';
import type { BatchState, PayoutsStore } from './store-pg.js';
import { wechatError } from './wechat/errors.js';

const item = (requestNo: string, state = 'batched') => ({ requestNo, amountFen: 100, openid: `o${requestNo}`, state });
const notFound: Answer = { ok: false, code: 'NOT_FOUND', message: '记录不存在', error: wechatError('NOT_FOUND') };
const paid: Answer = { ok: true, results: [{ requestNo: 'R1', outcome: 'succeeded' }] };
const waiting: Answer = { ok: true, results: [{ requestNo: 'R1', outcome: 'pending' }], providerBatchId: 'P1' };

function world(state: BatchState, answer: Answer, opts: { items?: ReturnType<typeof item>[]; moves?: boolean } = {}) {
  const calls: string[] = [];
  const items = opts.items ?? [item('R1')];
  const store = {
    batch: async () => ({ state, items, pending: items.filter((i) => i.state === 'batched') }),
    recordResults: async () => ({ moved: [], needs: [] }),
    moveBatch: async (_batchNo: string, from: BatchState, to: BatchState) => {
      calls.push(`move ${from}->${to}`);
      return opts.moves ?? true;
    },
  } as unknown as PayoutsStore;
  const provider = {
    api: 'v3_batch',
    maxBatch: 1000,
    bill: async () => ({ ok: true, text: '' }),
    submit: async (_b: string, sent: Item[]) => (calls.push(`submit ${sent.length}`), answer),
    query: async (_b: string, asked: Item[]) => (calls.push(`query ${asked.length}`), answer),
  } satisfies Provider;
  const queues = {
    submit: async (batchNo: string) => void calls.push(`queue submit ${batchNo}`),
    poll: async () => undefined,
    outcomes: async () => undefined,
  };
  const flow = createPayoutFlow(
    { pollMs: 60_000, sweepIdleMs: 20_000 },
    { store, provider, queues, metrics: createMetrics(), log: createLogger('test', 'silent') },
  );
  return { flow, calls };
}

describe('polling a batch', () => {
  it.each([
    ['a formed batch (never sent) is submitted, not queried or moved', 'formed', [], notFound, ['queue submit B1']],
    [
      'a formed batch a callback names is submitted, not queried or moved',
      'formed',
      ['R1'],
      notFound,
      ['queue submit B1'],
    ],
    [
      'a submitted batch the provider does not know yet stays submitted',
      'submitted',
      [],
      notFound,
      ['query 1', 'move submitted->submitted'],
    ],
    [
      'a submitted batch with every transfer final is finished',
      'submitted',
      [],
      paid,
      ['query 1', 'move submitted->finished'],
    ],
    ['a submitted batch still pending is touched', 'submitted', [], waiting, ['query 1', 'move submitted->submitted']],
    ['a batch needing attention that is still pending stays as it is', 'attention', ['R1'], waiting, ['query 1']],
    [
      'a finished batch a callback names is queried again, and stays finished',
      'finished',
      ['R1'],
      waiting,
      ['query 1'],
    ],
    ['a finished batch is not queried without a callback', 'finished', [], paid, []],
  ] as const)('%s', async (_name, state, recheck, answer, calls) => {
    const w = world(state, answer, { items: [item('R1', state === 'finished' ? 'succeeded' : 'batched')] });
    await w.flow.poll('B1', [...recheck]);
    expect(w.calls).toEqual(calls);
  });
});

describe('submitting a batch', () => {
  it.each([
    [
      'a formed batch is sent, then moved from formed',
      'formed',
      waiting,
      ['submit 1', 'move formed->submitted', 'move submitted->submitted'],
    ],
    [
      'a formed batch paid at once is finished',
      'formed',
      paid,
      ['submit 1', 'move formed->submitted', 'move submitted->finished'],
    ],
    ['a batch already submitted is not sent again', 'submitted', paid, []],
  ] as const)('%s', async (_name, state, answer, calls) => {
    const w = world(state, answer);
    await w.flow.submit('B1');
    expect(w.calls).toEqual(calls);
  });

  it('changes nothing, and does not fail, when another worker moved the batch first', async () => {
    const w = world('formed', waiting, { moves: false });
    await w.flow.submit('B1');
    expect(w.calls).toEqual(['submit 1', 'move formed->submitted', 'move submitted->submitted']);
  });
});

// Transfer bills, one call per transfer: each is queried on its own clock (the sweep names the ones
// due), a bill waiting for its user gets a package by a create sent again, and a cancel someone
// asked for is made while WeChat still shows the bill cancellable. A cancel's answer is never an
// outcome: the bill is queried until WeChat shows CANCELLED (or SUCCESS, if the user was first).
describe('transfer bills', () => {
  type Need = { requestNo: string; need: 'package' | 'cancel' };
  function bills(
    opts: {
      answer?: Answer;
      needs?: Need[];
      items?: ReturnType<typeof item>[];
      due?: {
        batchNo: string;
        requestNo: string;
        payoutId: string;
        person: string;
        providerState: string | null;
        cancelRequested: boolean;
        dueMs: string;
      }[];
      flagged?: Record<string, string[]>;
      cancel?: ItemResult | Error;
      inFlight?: number;
    } = {},
  ) {
    const calls: string[] = [];
    const items = opts.items ?? [item('R1'), item('R2')];
    let needs = opts.needs ?? [];
    const store = {
      batch: async () => ({
        state: 'submitted',
        params: { remark: 'r', sceneId: '1000', sceneReport: [] },
        items,
        pending: items.filter((i) => i.state === 'batched'),
      }),
      recordResults: async (_b: string, results: ItemResult[]) => {
        calls.push(
          `record ${results.map((r) => `${r.requestNo}:${r.outcome}${r.providerState ? `:${r.providerState}` : ''}`).join(',')}`,
        );
        const out = needs;
        needs = [];
        return { moved: [], needs: out };
      },
      moveBatch: async (_b: string, from: BatchState, to: BatchState) => (calls.push(`move ${from}->${to}`), true),
      pendingIn: async () => (calls.push('count in flight'), opts.inFlight ?? 1),
      openBatches: async () => [],
      unappliedOutcomes: async () => [],
      dueTransfers: async () => opts.due ?? [],
      fraudReasons: async (persons: string[]) => (
        calls.push(`fraud ${persons.join(',')}`),
        new Map(Object.entries(opts.flagged ?? {}))
      ),
      requestCancel: async (payoutId: string, detail: Record<string, unknown>) => {
        calls.push(`request cancel ${payoutId} ${JSON.stringify(detail)}`);
        return { batchNo: 'B1', requestNo: 'R1' };
      },
    } as unknown as PayoutsStore;
    const provider = {
      api: 'v3_bill',
      maxBatch: 1000,
      bill: async () => ({ ok: true, text: '' }),
      submit: async (_b: string, sent: Item[]) => (calls.push(`submit ${sent.map((i) => i.requestNo)}`), opts.answer!),
      query: async (_b: string, asked: Item[]) => (calls.push(`query ${asked.map((i) => i.requestNo)}`), opts.answer!),
      refresh: async (_b: string, asked: Item[]) => {
        calls.push(`create again ${asked.map((i) => i.requestNo)}`);
        return {
          ok: true,
          results: asked.map((i) => ({
            requestNo: i.requestNo,
            outcome: 'pending',
            providerState: 'WAIT_USER_CONFIRM',
            packageInfo: 'pkg',
          })),
        } as Answer;
      },
      cancel: async (requestNo: string) => {
        calls.push(`cancel ${requestNo}`);
        if (opts.cancel instanceof Error) throw opts.cancel;
        return opts.cancel ?? { requestNo, outcome: 'pending', providerState: 'CANCELING' };
      },
    } satisfies Provider;
    const queues = {
      submit: async () => undefined,
      poll: async (batchNo: string, o: { id: string; only?: string[] }) =>
        void calls.push(`queue poll ${batchNo} ${o.id} ${o.only ?? ''}`),
      outcomes: async () => undefined,
    };
    const flow = createPayoutFlow(
      { pollMs: 60_000, sweepIdleMs: 20_000 },
      {
        store,
        provider,
        queues,
        metrics: createMetrics(),
        log: createLogger('test', 'silent'),
        onStep: (step) => calls.push(`step ${step}`),
        now: () => 1_000,
      },
    );
    return { flow, calls };
  }
  const waitingAnswer = (...nos: string[]): Answer => ({
    ok: true,
    results: nos.map((requestNo) => ({ requestNo, outcome: 'pending', providerState: 'WAIT_USER_CONFIRM' })),
  });

  it.each([
    [
      'queries only the transfers named, and keeps the batch submitted while others are pending',
      { answer: waitingAnswer('R1') },
      ['R1'],
      [
        'query R1',
        'record R1:pending:WAIT_USER_CONFIRM',
        'step recorded',
        'count in flight',
        'move submitted->submitted',
      ],
    ],
    [
      'creates a bill waiting without a package again, and records the package',
      { answer: waitingAnswer('R1'), needs: [{ requestNo: 'R1', need: 'package' }] },
      ['R1'],
      [
        'query R1',
        'record R1:pending:WAIT_USER_CONFIRM',
        'step recorded',
        'create again R1',
        'step package',
        'record R1:pending:WAIT_USER_CONFIRM',
        'step recorded',
        'count in flight',
        'move submitted->submitted',
      ],
    ],
    [
      'cancels a bill whose cancel was asked for, and releases nothing on the answer',
      { answer: waitingAnswer('R1'), needs: [{ requestNo: 'R1', need: 'cancel' }] },
      ['R1'],
      [
        'query R1',
        'record R1:pending:WAIT_USER_CONFIRM',
        'step recorded',
        'cancel R1',
        'step cancel_called',
        'record R1:pending:CANCELING',
        'count in flight',
        'move submitted->submitted',
      ],
    ],
    [
      'finishes the batch once the last pending transfer is final',
      {
        answer: { ok: true, results: [{ requestNo: 'R2', outcome: 'failed', providerState: 'CANCELLED' }] } as Answer,
        items: [item('R1', 'succeeded'), item('R2')],
      },
      ['R2'],
      ['query R2', 'record R2:failed:CANCELLED', 'step recorded', 'move submitted->finished'],
    ],
    // Two polls at once (two callbacks) each read the batch before the other recorded: the count made
    // after recording sees the other's result, so the batch is finished, not left submitted.
    [
      'finishes the batch when a poll running at once recorded the other transfer final',
      {
        answer: { ok: true, results: [{ requestNo: 'R2', outcome: 'succeeded', providerState: 'SUCCESS' }] } as Answer,
        inFlight: 0,
      },
      ['R2'],
      ['query R2', 'record R2:succeeded:SUCCESS', 'step recorded', 'count in flight', 'move submitted->finished'],
    ],
  ] as const)('a poll %s', async (_name, opts, only, calls) => {
    const w = bills({
      ...opts,
      items: 'items' in opts ? [...opts.items] : undefined,
      needs: 'needs' in opts ? [...opts.needs] : [],
    });
    await w.flow.poll('B1', [], [...only]);
    expect(w.calls).toEqual(calls);
  });

  it('a cancel that throws (outcome unknown) still queries the bill after, and releases nothing', async () => {
    const w = bills({ cancel: new PipelineError('wechat_unverified_answer', 'timeout', { retriable: true }) });
    expect(await w.flow.cancel('P1', { by: 'operator' })).toMatchObject({
      ok: true,
      result: { outcome: 'pending', reason: 'wechat_unverified_answer' },
    });
    expect(w.calls).toEqual([
      'request cancel P1 {"by":"operator"}',
      'cancel R1',
      'step cancel_called',
      'queue poll B1 cancel-R1-1000 R1',
    ]);
  });

  it("an operator's cancel is recorded first, then made, then the bill is queried", async () => {
    const w = bills();
    expect(await w.flow.cancel('P1', { by: 'operator' })).toEqual({
      ok: true,
      result: { requestNo: 'R1', outcome: 'pending', providerState: 'CANCELING' },
    });
    expect(w.calls).toEqual([
      'request cancel P1 {"by":"operator"}',
      'cancel R1',
      'step cancel_called',
      'record R1:pending:CANCELING',
      'queue poll B1 cancel-R1-1000 R1',
    ]);
  });

  it('the sweep queues one query per batch naming its due transfers, and asks to cancel the waiting bills of a person flagged since', async () => {
    const due = (
      batchNo: string,
      requestNo: string,
      person: string,
      providerState: string | null,
      dueMs: string,
      cancelRequested = false,
    ) => ({ batchNo, requestNo, payoutId: `P${requestNo}`, person, providerState, cancelRequested, dueMs });
    const w = bills({
      due: [
        due('B1', 'R1', 'app:u1', 'WAIT_USER_CONFIRM', '10'),
        due('B1', 'R2', 'app:u2', 'ACCEPTED', '20'),
        due('B2', 'R3', 'app:u3', 'WAIT_USER_CONFIRM', '15'),
        due('B2', 'R4', 'app:u1', 'WAIT_USER_CONFIRM', '5', true),
      ],
      flagged: { 'app:u1': ['click_flooding'] },
    });
    await w.flow.sweep();
    expect(w.calls).toEqual([
      'fraud app:u1,app:u3',
      'request cancel PR1 {"by":"risk","reason":"fraud_signals","signals":["click_flooding"]}',
      'queue poll B1 due-B1-20 R1,R2',
      'queue poll B2 due-B2-15 R3,R4',
    ]);
  });
});
