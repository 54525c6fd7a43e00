// The flow's batch moves, with a fake store, provider and queues: a poll never moves a batch that was
// never sent (it queues its submit), and every move names the state it starts from.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../common/log.js';
import { createPayoutFlow } from './flow.js';
import { createMetrics } from './metrics.js';
import type { Answer, Item, Provider } from './providers/provider.js';
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
    record: async () => [],
    moveBatch: async (_batchNo: string, from: BatchState, to: BatchState) => {
      calls.push(`move ${from}->${to}`);
      return opts.moves ?? true;
    },
  } as unknown as PayoutsStore;
  const provider = {
    api: 'v3_batch', maxBatch: 1000, bill: async () => ({ ok: true, text: '' }),
    submit: async (_b: string, sent: Item[]) => (calls.push(`submit ${sent.length}`), answer),
    query: async (_b: string, asked: Item[]) => (calls.push(`query ${asked.length}`), answer),
  } satisfies Provider;
  const queues = {
    submit: async (batchNo: string) => void calls.push(`queue submit ${batchNo}`),
    poll: async () => undefined,
    outcomes: async () => undefined,
  };
  const flow = createPayoutFlow({ pollMs: 60_000, sweepIdleMs: 20_000 }, { store, provider, queues, metrics: createMetrics(), log: createLogger('test', 'silent') });
  return { flow, calls };
}

describe('polling a batch', () => {
  it.each([
    ['a formed batch (never sent) is submitted, not queried or moved', 'formed', [], notFound, ['queue submit B1']],
    ['a formed batch a callback names is submitted, not queried or moved', 'formed', ['R1'], notFound, ['queue submit B1']],
    ['a submitted batch the provider does not know yet stays submitted', 'submitted', [], notFound, ['query 1', 'move submitted->submitted']],
    ['a submitted batch with every transfer final is finished', 'submitted', [], paid, ['query 1', 'move submitted->finished']],
    ['a submitted batch still pending is touched', 'submitted', [], waiting, ['query 1', 'move submitted->submitted']],
    ['a batch needing attention that is still pending stays as it is', 'attention', ['R1'], waiting, ['query 1']],
    ['a finished batch a callback names is queried again, and stays finished', 'finished', ['R1'], waiting, ['query 1']],
    ['a finished batch is not queried without a callback', 'finished', [], paid, []],
  ] as const)('%s', async (_name, state, recheck, answer, calls) => {
    const w = world(state, answer, { items: [item('R1', state === 'finished' ? 'succeeded' : 'batched')] });
    await w.flow.poll('B1', [...recheck]);
    expect(w.calls).toEqual(calls);
  });
});

describe('submitting a batch', () => {
  it.each([
    ['a formed batch is sent, then moved from formed', 'formed', waiting, ['submit 1', 'move formed->submitted', 'move submitted->submitted']],
    ['a formed batch paid at once is finished', 'formed', paid, ['submit 1', 'move formed->submitted', 'move submitted->finished']],
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
