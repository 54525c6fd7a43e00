// The top-up flow with a fake PayIn and an in-memory store passed through deps: the order of calls,
// crash points and hand-offs; numbers committed before each call; a retriable fault leaving the row
// for the sweep; and each hand-off under its one job id. The SQL behind the store is store.int.test.ts'.
import { describe, expect, it } from 'vitest';
import { PipelineError } from '../../common/errors.js';
import { fen } from '../../common/money.js';
import { createLogger } from '../../common/log.js';
import type { FundingOutcomeJob } from '../../schemas/queues.js';
import { payInError } from '../wechat/errors.js';
import { createTopupFlow, type TopupFlowStore, type TopupStep } from './flow.js';
import type { Checkout, PayIn, PayInAnswer, RefundView, Trade } from './pay-in.js';
import type { OrderState, PartState } from './states.js';
import type { Order, Part } from './store-pg.js';

const ours = { mchid: 'M1', appid: 'wxA' };
const ok = <T>(value: T): PayInAnswer<T> => ({ ok: true, value });
const no = (code: string, call: 'order' | 'refund' | 'query' = 'order') => ({
  ok: false as const,
  code,
  message: code,
  error: payInError(call, code),
});
const unreachable = () => {
  throw new PipelineError('wechat_timeout', 'timed out', { retriable: true });
};

/** An in-memory stand-in for the store: rows, and every guarded move the flow asks for. */
function fakeStore() {
  const orders = new Map<string, Order>();
  const parts = new Map<string, Part>();
  const moves: string[] = [];
  const order = (no: string, over: Partial<Order> = {}): Order => {
    const o: Order = {
      outTradeNo: no,
      advertiserId: 'adv',
      campaignId: 'c1',
      idempotencyKey: `k-${no}`,
      amountFen: fen(500),
      currency: 'CNY',
      api: 'v3',
      tradeType: 'NATIVE',
      payerOpenid: null,
      description: 'd',
      expiresAt: new Date(0),
      state: 'created',
      providerState: null,
      codeUrl: null,
      prepayId: null,
      transactionId: null,
      paidFen: null,
      paidAt: null,
      attentionReason: null,
      resolution: null,
      createdAt: new Date(0),
      ...over,
    };
    orders.set(no, o);
    return o;
  };
  const store: TopupFlowStore = {
    async createOrder(n) {
      const before = [...orders.values()].find((o) => o.idempotencyKey === n.idempotencyKey);
      if (before) return { status: 'exists', order: { ...before } };
      if (n.campaignId !== 'c1') return { status: 'not_found' };
      return {
        status: 'created',
        order: {
          ...order(`T${orders.size + 1}`, {
            amountFen: n.amountFen,
            idempotencyKey: n.idempotencyKey,
            tradeType: n.tradeType,
            payerOpenid: n.payerOpenid ?? null,
          }),
        },
      };
    },
    order: async (no) => (orders.has(no) ? { ...orders.get(no)! } : undefined),
    async recordOpen(no, c) {
      const o = orders.get(no)!;
      if (o.state !== 'created') return undefined;
      Object.assign(o, { state: 'open', codeUrl: c.codeUrl ?? null, prepayId: c.prepayId ?? null });
      moves.push(`${no} created->open`);
      return { ...o };
    },
    async moveOrder(no, from, to, f) {
      const o = orders.get(no)!;
      if (o.state !== from) return false;
      Object.assign(o, {
        state: to,
        providerState: f.providerState ?? o.providerState,
        paidFen: f.paidFen ?? o.paidFen,
        attentionReason: to === 'attention' ? (o.attentionReason ?? f.reason) : null,
      });
      moves.push(`${no} ${from}->${to}`);
      return true;
    },
    async refuseOrder(no, code) {
      const o = orders.get(no)!;
      if (o.state !== 'created') return false;
      Object.assign(o, { state: 'closed', providerState: code });
      moves.push(`${no} created->closed`);
      return true;
    },
    async markClosing(no) {
      const o = orders.get(no)!;
      if (o.state !== 'created' && o.state !== 'open') return false;
      moves.push(`${no} ${o.state}->closing`);
      o.state = 'closing';
      return true;
    },
    async closeUnsent(no, code) {
      const o = orders.get(no)!;
      if (o.state !== 'closing' || o.codeUrl || o.prepayId) return false;
      Object.assign(o, { state: 'closed', providerState: code });
      moves.push(`${no} closing->closed`);
      return true;
    },
    claimDueOrders: async () => [],
    uncreditedOrders: async () => [],
    async resolve(no, decision) {
      const o = orders.get(no);
      if (o?.state !== 'attention' || o.resolution) return undefined;
      Object.assign(o, { resolution: decision, state: decision === 'credit' ? 'paid' : 'attention' });
      if (decision === 'refund')
        parts.set(`R${no}`, {
          outRefundNo: `R${no}`,
          outTradeNo: no,
          refundId: null,
          amountFen: o.paidFen!,
          state: 'created',
          providerState: null,
          stateReason: null,
          totalFen: o.paidFen!,
          reason: '',
        });
      return { ...o };
    },
    claimDueParts: async () => [],
    unsettledParts: async () => [],
    unsplitRefunds: async () => [],
    splitRefund: async (refundId) => ({
      amountFen: fen(0),
      parts: [...parts.values()].filter((p) => p.refundId === refundId).map((p) => ({ ...p })),
    }),
    part: async (no) => (parts.has(no) ? { ...parts.get(no)! } : undefined),
    async movePart(no, from, to, f) {
      const p = parts.get(no)!;
      if (p.state !== from) return false;
      Object.assign(p, {
        state: to,
        providerState: f.providerState ?? p.providerState,
        stateReason: f.reason ?? p.stateReason,
      });
      moves.push(`${no} ${from}->${to}`);
      return true;
    },
  };
  const part = (outRefundNo: string, over: Partial<Part> = {}) =>
    parts.set(outRefundNo, {
      outRefundNo,
      outTradeNo: 'T1',
      refundId: 'rf1',
      amountFen: fen(300),
      state: 'created',
      providerState: null,
      stateReason: null,
      totalFen: fen(500),
      reason: '',
      ...over,
    });
  return { store, orders, parts, moves, order, part };
}

/** The flow over a fake store and a fake WeChat whose answers `wechat` gives; `log` records calls, crash points and hand-offs in order. */
function world(wechat: Partial<PayIn> = {}) {
  const s = fakeStore();
  const log: string[] = [];
  const jobs: FundingOutcomeJob[] = [];
  const payIn: PayIn = {
    api: 'v3',
    create: async (o) => (
      log.push(`create ${o.outTradeNo}`),
      ok<Checkout>({ tradeType: 'NATIVE', codeUrl: `weixin://pay/${o.outTradeNo}` })
    ),
    query: async (n) => (
      log.push(`query ${n}`),
      ok<Trade>({ outTradeNo: n, tradeState: 'NOTPAY', totalFen: fen(500), ...ours })
    ),
    close: async (n) => (log.push(`close ${n}`), ok(undefined)),
    refund: async (r) => (
      log.push(`refund ${r.outRefundNo}`),
      ok<RefundView>({
        outRefundNo: r.outRefundNo,
        outTradeNo: r.outTradeNo,
        status: 'PROCESSING',
        amountFen: r.amountFen,
      })
    ),
    queryRefund: async (n) => (log.push(`query refund ${n}`), no('RESOURCE_NOT_EXISTS', 'query')),
    tradeBill: async () => ({ ok: true, text: '' }),
    jsapiParams: (prepayId) => ({
      appId: 'wxA',
      timeStamp: '1',
      nonceStr: 'n',
      package: `prepay_id=${prepayId}`,
      signType: 'RSA',
      paySign: 's',
    }),
    ...wechat,
  };
  const flow = createTopupFlow(
    {
      merchant: ours,
      currency: 'CNY',
      description: 'd',
      expiryMs: 7_200_000,
      pollMs: 60_000,
      notifyUrls: { pay: 'https://x/pay', refund: 'https://x/refund' },
    },
    {
      store: s.store,
      payIn,
      log: createLogger('test', 'silent'),
      metrics: { topup: () => {}, topupRefund: () => {} },
      funding: async (job) =>
        void (
          jobs.push(job),
          log.push(`hand off ${job.kind} ${'outTradeNo' in job ? job.outTradeNo : job.outRefundNo}`)
        ),
      onStep: (step: TopupStep) => void log.push(`[${step}]`),
    },
  );
  return { ...s, flow, log, jobs };
}
const paid = (n = 'T1', over: Partial<Trade> = {}): Trade => ({
  outTradeNo: n,
  tradeState: 'SUCCESS',
  totalFen: fen(500),
  transactionId: 'W1',
  ...ours,
  ...over,
});

describe('creating a top-up', () => {
  it('commits the order, then calls WeChat, then records it open', async () => {
    const w = world();
    const r = await w.flow.create({ campaignId: 'c1', idempotencyKey: 'k1', amountFen: fen(500), tradeType: 'NATIVE' });
    expect(r).toMatchObject({ status: 'open', order: { outTradeNo: 'T1', state: 'open', codeUrl: 'weixin://pay/T1' } });
    expect(w.log).toEqual(['[topup_formed]', 'create T1', '[topup_called]']);
  });

  it('leaves the order created when WeChat cannot be reached, and answers pending', async () => {
    const w = world({ create: unreachable });
    const r = await w.flow.create({ campaignId: 'c1', idempotencyKey: 'k1', amountFen: fen(500), tradeType: 'NATIVE' });
    expect(r).toMatchObject({ status: 'pending', order: { state: 'created' } });
    expect(w.log).toEqual(['[topup_formed]']);
  });

  it('closes an order WeChat refused, keeping its code', async () => {
    const w = world({ create: async () => no('PARAM_ERROR') });
    const r = await w.flow.create({ campaignId: 'c1', idempotencyKey: 'k1', amountFen: fen(500), tradeType: 'NATIVE' });
    expect(r).toMatchObject({
      status: 'refused',
      code: 'PARAM_ERROR',
      order: { state: 'closed', providerState: 'PARAM_ERROR' },
    });
  });

  it('queries an order a create sent again finds paid, and credits it', async () => {
    const w = world({ create: async () => no('ORDERPAID'), query: async (n) => ok(paid(n)) });
    w.order('T1');
    await w.flow.submit('T1');
    expect(w.orders.get('T1')!.state).toBe('paid');
    expect(w.jobs).toEqual([{ kind: 'credit', outTradeNo: 'T1' }]);
  });

  it.each([
    ['another amount', { amountFen: fen(600) }],
    ['another method', { tradeType: 'JSAPI' as const, payerOpenid: 'o1' }],
  ])('refuses a repeat of the key with %s', async (_name, over) => {
    const w = world();
    await w.flow.create({ campaignId: 'c1', idempotencyKey: 'k1', amountFen: fen(500), tradeType: 'NATIVE' });
    expect(
      await w.flow.create({
        campaignId: 'c1',
        idempotencyKey: 'k1',
        amountFen: fen(500),
        tradeType: 'NATIVE',
        ...over,
      }),
    ).toEqual({ status: 'conflict' });
  });

  it('answers a repeat with the same order, and sends its create again while WeChat has not answered', async () => {
    let down = true;
    const w = world({
      create: async (o) =>
        down ? unreachable() : ok<Checkout>({ tradeType: 'NATIVE', codeUrl: `weixin://pay/${o.outTradeNo}` }),
    });
    const req = { campaignId: 'c1', idempotencyKey: 'k1', amountFen: fen(500), tradeType: 'NATIVE' as const };
    expect(await w.flow.create(req)).toMatchObject({ status: 'pending' });
    down = false;
    expect(await w.flow.create(req)).toMatchObject({ status: 'exists', order: { outTradeNo: 'T1', state: 'open' } });
    expect(await w.flow.create(req)).toMatchObject({ status: 'exists', order: { outTradeNo: 'T1', state: 'open' } });
    expect(w.orders.size).toBe(1);
  });
});

describe('a payment', () => {
  it('is credited once, whatever repeats: paid, then the crash point, then one credit job', async () => {
    const w = world();
    w.order('T1', { state: 'open' });
    for (let i = 0; i < 3; i++) expect(await w.flow.applyTrade(paid())).toEqual({ known: true, state: 'paid' });
    expect(w.moves).toEqual(['T1 open->paid']);
    expect(w.log).toEqual(['[topup_paid]', 'hand off credit T1']);
  });

  it('after the order was closed goes to a person, and is never credited', async () => {
    const w = world();
    w.order('T1', { state: 'closed' });
    expect(await w.flow.applyTrade(paid())).toEqual({ known: true, state: 'attention' });
    expect(w.orders.get('T1')!.attentionReason).toBe('paid_after_close');
    expect(w.jobs).toEqual([]);
  });

  it('of an order not known here is acknowledged as unknown', async () => {
    expect(await world().flow.applyTrade(paid('NOPE'))).toEqual({ known: false });
  });

  it('tries again when another worker moved the order between its read and its move', async () => {
    const w = world();
    w.order('T1', { state: 'open' });
    const move = w.store.moveOrder;
    let first = true;
    w.store.moveOrder = async (...args) => {
      if (first) {
        first = false;
        w.orders.get('T1')!.state = 'closing'; // the sweep got there first
        return false;
      }
      return move(...args);
    };
    expect(await w.flow.applyTrade(paid())).toEqual({ known: true, state: 'paid' });
    expect(w.moves).toEqual(['T1 closing->paid']);
  });
});

describe('expiry', () => {
  it('marks the order closing before the close call, then the query closes it', async () => {
    const w = world({
      query: async (n) => (
        w.log.push(`query ${n}`),
        ok<Trade>({ outTradeNo: n, tradeState: 'CLOSED', totalFen: fen(500), ...ours })
      ),
    });
    w.order('T1', { state: 'open', codeUrl: 'weixin://x' });
    w.store.claimDueOrders = async () => [{ outTradeNo: 'T1', state: 'open', expired: true }];
    await w.flow.sweep();
    expect(w.moves).toEqual(['T1 open->closing', 'T1 closing->closed']);
    expect(w.log).toEqual(['close T1', '[topup_close_called]', 'query T1']);
  });

  it('pays an order whose payment beat the close', async () => {
    const w = world({ close: async () => no('ORDERPAID'), query: async (n) => ok(paid(n)) });
    w.order('T1', { state: 'closing', codeUrl: 'weixin://x' });
    w.store.claimDueOrders = async () => [{ outTradeNo: 'T1', state: 'closing', expired: true }];
    await w.flow.sweep();
    expect(w.orders.get('T1')!.state).toBe('paid');
    expect(w.jobs).toEqual([{ kind: 'credit', outTradeNo: 'T1' }]);
  });

  it.each([
    ['closes a created order WeChat never knew', {}, 'closed'],
    ['keeps closing an order WeChat answered, until its query shows it closed', { codeUrl: 'weixin://x' }, 'closing'],
  ] as [string, Partial<Order>, OrderState][])('%s', async (_name, over, state) => {
    const w = world({ close: async () => no('ORDER_NOT_EXIST'), query: async () => no('ORDER_NOT_EXIST', 'query') });
    w.order('T1', over);
    w.store.claimDueOrders = async () => [{ outTradeNo: 'T1', state: 'created', expired: true }];
    await w.flow.sweep();
    expect(w.orders.get('T1')!.state).toBe(state);
  });

  it('leaves an order closing when the close cannot be sent (the sweep comes back)', async () => {
    const w = world({ close: unreachable });
    w.order('T1', { state: 'open' });
    w.store.claimDueOrders = async () => [{ outTradeNo: 'T1', state: 'open', expired: true }];
    await w.flow.sweep();
    expect(w.orders.get('T1')!.state).toBe('closing');
    expect(w.log).toEqual([]);
  });
});

describe('the sweep', () => {
  it('sends created orders again, queries open ones, and hands off what the ledger lacks', async () => {
    const w = world();
    w.order('T1');
    w.order('T2', { state: 'open' });
    w.store.claimDueOrders = async () => [
      { outTradeNo: 'T1', state: 'created', expired: false },
      { outTradeNo: 'T2', state: 'open', expired: false },
    ];
    w.store.uncreditedOrders = async () => ['T9'];
    w.store.unsettledParts = async () => [
      { outRefundNo: 'R1', state: 'succeeded' },
      { outRefundNo: 'R2', state: 'failed' },
    ];
    await w.flow.sweep();
    expect(w.log).toEqual([
      '[topup_formed]',
      'create T1',
      '[topup_called]',
      'query T2',
      'hand off credit T9',
      'hand off refund_settle R1',
      'hand off refund_release R2',
    ]);
  });

  it('goes on with the other orders when one fails', async () => {
    const w = world({ query: async (n) => (n === 'T1' ? Promise.reject(new Error('boom')) : ok(paid(n))) });
    w.order('T1', { state: 'open' });
    w.order('T2', { state: 'open' });
    w.store.claimDueOrders = async () => [
      { outTradeNo: 'T1', state: 'open', expired: false },
      { outTradeNo: 'T2', state: 'open', expired: false },
    ];
    await w.flow.sweep();
    expect(w.orders.get('T2')!.state).toBe('paid');
  });
});

describe('refunds', () => {
  it("sends each created part after the parts are committed, records WeChat's answer, and hands off a final one", async () => {
    const w = world({
      refund: async (r) => (
        w.log.push(`refund ${r.outRefundNo}`),
        ok<RefundView>({
          outRefundNo: r.outRefundNo,
          outTradeNo: r.outTradeNo,
          status: r.outRefundNo === 'P1' ? 'SUCCESS' : 'PROCESSING',
          amountFen: r.amountFen,
        })
      ),
    });
    w.part('P1');
    w.part('P2');
    w.part('P3', { state: 'failed', reason: 'no_refundable_order' });
    await w.flow.intakeRefund('rf1');
    expect(w.log).toEqual([
      '[refund_formed]',
      'refund P1',
      '[refund_called]',
      '[refund_recorded]',
      'hand off refund_settle P1',
      'refund P2',
      '[refund_called]',
      '[refund_recorded]',
      'hand off refund_release P3',
    ]);
  });

  it.each([
    [
      'fails a part WeChat refuses for good (balance short), and releases it',
      no('NOT_ENOUGH', 'refund'),
      'failed',
      [{ kind: 'refund_release', outRefundNo: 'P1' }],
    ],
    ['leaves a part created on a retriable refusal', no('SYSTEM_ERROR', 'refund'), 'created', []],
    [
      'leaves a part created on an unsigned refusal, never final',
      {
        ...no('NOT_ENOUGH', 'refund'),
        error: { ...payInError('refund', 'NOT_ENOUGH'), final: false, retriable: false },
      },
      'created',
      [],
    ],
  ] as [string, PayInAnswer<RefundView>, PartState, FundingOutcomeJob[]][])(
    '%s',
    async (_name, answer, state, jobs) => {
      const w = world({ refund: async () => answer });
      w.part('P1');
      await w.flow.intakeRefund('rf1');
      expect(w.parts.get('P1')!.state).toBe(state);
      expect(w.jobs).toEqual(jobs);
    },
  );

  it('leaves a part created when WeChat cannot be reached', async () => {
    const w = world({ refund: unreachable });
    w.part('P1');
    await w.flow.intakeRefund('rf1');
    expect(w.parts.get('P1')!.state).toBe('created');
    expect(w.log).toEqual(['[refund_formed]']);
  });

  it.each([
    ['SUCCESS settles', 'SUCCESS', 'succeeded', [{ kind: 'refund_settle', outRefundNo: 'P1' }]],
    ['CLOSED releases', 'CLOSED', 'failed', [{ kind: 'refund_release', outRefundNo: 'P1' }]],
    ['ABNORMAL goes to a person, with no ledger change', 'ABNORMAL', 'attention', []],
  ] as const)('a notification: %s, once however often it comes', async (_name, status, state, jobs) => {
    const w = world();
    w.part('P1', { state: 'processing' });
    for (let i = 0; i < 2; i++)
      await w.flow.applyRefund({ outRefundNo: 'P1', outTradeNo: 'T1', status, amountFen: fen(300) });
    expect(w.parts.get('P1')!.state).toBe(state);
    expect(w.jobs).toEqual(jobs);
  });

  it.each([
    [
      'settles an ABNORMAL part a person handled (WeChat now says SUCCESS), once',
      { state: 'attention', stateReason: 'ABNORMAL' },
      'SUCCESS',
      'succeeded',
      [{ kind: 'refund_settle', outRefundNo: 'P1' }],
      1,
    ],
    [
      'asks again about an ABNORMAL part not handled yet, which stays in attention',
      { state: 'attention', stateReason: 'ABNORMAL' },
      'ABNORMAL',
      'attention',
      [],
      2,
    ],
    [
      'never asks about a part in attention for another amount',
      { state: 'attention', stateReason: 'amount_mismatch' },
      'SUCCESS',
      'attention',
      [],
      0,
    ],
  ] as const)('the sweep %s', async (_name, over, status, state, jobs, queries) => {
    const w = world({
      queryRefund: async (n) => (
        w.log.push(`query refund ${n}`),
        ok<RefundView>({ outRefundNo: n, outTradeNo: 'T1', status, amountFen: fen(300) })
      ),
    });
    w.part('P1', { ...over, providerState: 'ABNORMAL' });
    w.store.claimDueParts = async () => [{ outRefundNo: 'P1', state: 'attention' }];
    await w.flow.sweep();
    await w.flow.sweep();
    expect(w.parts.get('P1')!.state).toBe(state);
    expect(w.jobs).toEqual(jobs);
    // A succeeded part is not asked again; one in attention for another reason never (the SQL does not claim it either).
    expect(w.log.filter((l) => l.startsWith('query refund'))).toHaveLength(queries);
  });

  it("checks a part now on a person's word: WeChat's answer applied and told; a part not here is undefined", async () => {
    const w = world({
      queryRefund: async (n) =>
        ok<RefundView>({ outRefundNo: n, outTradeNo: 'T1', status: 'SUCCESS', amountFen: fen(300) }),
    });
    w.part('P1', { state: 'attention', stateReason: 'ABNORMAL' });
    expect(await w.flow.checkRefund('P1')).toMatchObject({
      part: { state: 'succeeded' },
      wechat: { kind: 'status', status: 'SUCCESS' },
    });
    expect(w.jobs).toEqual([{ kind: 'refund_settle', outRefundNo: 'P1' }]);
    expect(await w.flow.checkRefund('P9')).toBeUndefined();
    const down = world({ queryRefund: unreachable });
    down.part('P1', { state: 'attention', stateReason: 'ABNORMAL' });
    expect(await down.flow.checkRefund('P1')).toMatchObject({
      part: { state: 'attention' },
      wechat: { kind: 'unreachable' },
    });
  });

  it('takes a notification naming another order for an unknown refund', async () => {
    const w = world();
    w.part('P1', { state: 'processing' });
    expect(
      await w.flow.applyRefund({ outRefundNo: 'P1', outTradeNo: 'T2', status: 'SUCCESS', amountFen: fen(300) }),
    ).toEqual({ known: false });
    expect(w.parts.get('P1')!.state).toBe('processing');
  });
});

describe("a person's decision on an order in attention", () => {
  it('credit: paid, and one credit job', async () => {
    const w = world();
    w.order('T1', { state: 'attention', attentionReason: 'paid_after_close', paidFen: fen(500) });
    expect(await w.flow.resolve('T1', 'credit')).toMatchObject({
      ok: true,
      order: { state: 'paid', resolution: 'credit' },
    });
    expect(w.jobs).toEqual([{ kind: 'credit', outTradeNo: 'T1' }]);
  });

  it('refund: refunded whole at WeChat, with nothing for the ledger', async () => {
    const w = world({
      refund: async (r) =>
        ok<RefundView>({
          outRefundNo: r.outRefundNo,
          outTradeNo: r.outTradeNo,
          status: 'SUCCESS',
          amountFen: r.amountFen,
        }),
    });
    w.order('T1', { state: 'attention', attentionReason: 'paid_after_close', paidFen: fen(500) });
    expect(await w.flow.resolve('T1', 'refund')).toMatchObject({
      ok: true,
      order: { state: 'attention', resolution: 'refund' },
    });
    expect(w.parts.get('RT1')!.state).toBe('succeeded');
    expect(w.jobs).toEqual([]);
  });

  it.each([
    ['an order not in attention', { state: 'paid' as const }, { ok: false, reason: 'not_in_attention' }],
    [
      'an order decided the other way',
      { state: 'attention' as const, resolution: 'refund' as const },
      { ok: false, reason: 'not_in_attention' },
    ],
  ])('refuses %s', async (_name, over, answer) => {
    const w = world();
    w.order('T1', over);
    expect(await w.flow.resolve('T1', 'credit')).toMatchObject(answer);
    expect(w.jobs).toEqual([]);
  });
});
