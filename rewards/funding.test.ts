import { describe, expect, it } from 'vitest';
import {
  decideCredit,
  decideRefundOutcome,
  refundAmount,
  refundHold,
  refundState,
  topupCredit,
  type CampaignRefund,
  type RefundPart,
  type TopupOrder,
} from './funding.js';
import { fen } from '../common/money.js';
import { planTransfers, type Account } from './ledger.js';

const order: TopupOrder = {
  outTradeNo: 'T0001',
  advertiserId: 'adv',
  campaignId: 'c1',
  amountFen: fen(500),
  currency: 'CNY',
  state: 'paid',
};
const refund: CampaignRefund = {
  refundId: '0b7c9e4e-0000-4000-8000-000000000001',
  campaignId: 'c1',
  advertiserId: 'adv',
  amountFen: fen(300),
  currency: 'CNY',
};
const part = (state: string, over: Partial<RefundPart> = {}): RefundPart => ({
  outRefundNo: 'R0100',
  amountFen: fen(120),
  state,
  refund,
  ...over,
});
/** Each posting as `<type>/<owner> <side> <amount>`. */
const lines = (t: { postings: { account: { type: string; owner: string }; side: string; amount: bigint }[] }) =>
  t.postings.map((p) => `${p.account.type}/${p.account.owner} ${p.side} ${p.amount}`);

describe('the four transfers', () => {
  it("credits a paid order: the advertiser's funding pays the campaign's budget the order's amount", () => {
    const t = topupCredit(order);
    expect({ key: t.key, kind: t.kind, reference: t.reference }).toEqual({
      key: '["topup","T0001"]',
      kind: 'fund',
      reference: 'T0001',
    });
    expect(lines(t)).toEqual(['advertiser_funding/adv debit 500', 'campaign_budget/c1 credit 500']);
  });

  it("holds a refund: the budget pays the refund's clearing account", () => {
    const t = refundHold(refund);
    expect({ key: t.key, kind: t.kind, reference: t.reference }).toEqual({
      key: `["refund_hold","${refund.refundId}"]`,
      kind: 'refund_hold',
      reference: refund.refundId,
    });
    expect(lines(t)).toEqual([`campaign_budget/c1 debit 300`, `refund_clearing/${refund.refundId} credit 300`]);
  });

  it.each([
    ['settles a succeeded part to the advertiser', 'refund_settle', 'succeeded', 'advertiser_funding/adv credit 120'],
    ['releases a failed part to the budget', 'refund_release', 'failed', 'campaign_budget/c1 credit 120'],
  ] as const)('%s', (_name, kind, state, credited) => {
    const decided = decideRefundOutcome(kind, part(state));
    if (!decided.ok) throw new Error(decided.reason);
    expect({ key: decided.transfer.key, kind: decided.transfer.kind, reference: decided.transfer.reference }).toEqual({
      key: `["${kind}","R0100"]`,
      kind,
      reference: 'R0100',
    });
    expect(lines(decided.transfer)).toEqual([`refund_clearing/${refund.refundId} debit 120`, credited]);
  });

  it('never lets a refund hold take more than the budget (the ledger refuses it)', () => {
    const budget: Account = {
      id: '1',
      type: 'campaign_budget',
      owner: 'c1',
      currency: 'CNY',
      debits: 0n,
      credits: 299n,
    };
    const [result] = planTransfers([refundHold(refund)], {
      accounts: new Map([['campaign_budget/CNY/c1', budget]]),
      existing: new Map(),
    });
    expect(result).toMatchObject({ status: 'exceeds_balance' });
  });
});

describe('what an outcome may post', () => {
  it.each([
    ['credits a paid order', order, 'ok'],
    ['sets aside an unknown order', undefined, 'order_not_found'],
    ...['created', 'open', 'closing', 'closed', 'attention'].map(
      (state) => [`sets aside an order ${state}`, { ...order, state }, 'order_not_paid'] as const,
    ),
  ] as [string, TopupOrder | undefined, string][])('%s', (_name, o, expected) => {
    const decided = decideCredit(o);
    expect(decided.ok ? 'ok' : decided.reason).toBe(expected);
  });

  it.each([
    ['refund_settle', 'a succeeded part', part('succeeded'), 'ok'],
    ['refund_release', 'a failed part', part('failed'), 'ok'],
    ['refund_settle', 'no part', undefined, 'part_not_found'],
    ['refund_settle', 'a whole-order refund', part('succeeded', { refund: null }), 'whole_order_refund'],
    ['refund_release', 'a whole-order refund', part('failed', { refund: null }), 'whole_order_refund'],
    ...['created', 'processing', 'failed', 'attention'].map(
      (s) => ['refund_settle', `a part ${s}`, part(s), 'part_not_succeeded'] as const,
    ),
    ...['created', 'processing', 'succeeded', 'attention'].map(
      (s) => ['refund_release', `a part ${s}`, part(s), 'part_not_failed'] as const,
    ),
  ] as ['refund_settle' | 'refund_release', string, RefundPart | undefined, string][])(
    '%s of %s: %s',
    (kind, _what, p, expected) => {
      const decided = decideRefundOutcome(kind, p);
      expect(decided.ok ? 'ok' : decided.reason).toBe(expected);
    },
  );
});

describe('refundAmount', () => {
  it.each([
    ['defaults to the budget when it is the lesser', undefined, 400n, 500n, { ok: true, amountFen: 400n }],
    ['defaults to the refundable when it is the lesser', undefined, 900n, 500n, { ok: true, amountFen: 500n }],
    ['takes an amount within both', 200n, 400n, 500n, { ok: true, amountFen: 200n }],
    ['takes exactly the lesser', 400n, 400n, 500n, { ok: true, amountFen: 400n }],
    ['refuses an amount over the budget', 401n, 400n, 500n, { ok: false, error: 'exceeds_refundable' }],
    ['refuses an amount over the refundable', 501n, 900n, 500n, { ok: false, error: 'exceeds_refundable' }],
    ['has nothing to refund with an empty budget', undefined, 0n, 500n, { ok: false, error: 'nothing_to_refund' }],
    [
      'has nothing to refund with nothing refundable (operator funding only)',
      100n,
      900n,
      0n,
      { ok: false, error: 'nothing_to_refund' },
    ],
  ] as [string, bigint | undefined, bigint, bigint, unknown][])(
    '%s',
    (_name, requested, budget, refundable, expected) => {
      expect(refundAmount(requested === undefined ? undefined : fen(requested), budget, refundable)).toEqual(expected);
    },
  );
});

describe('refundState', () => {
  const s = (state: string, applied = true) => ({ state, applied });
  it.each([
    ['refunded when every part settled', [s('succeeded'), s('succeeded')], 'refunded'],
    ['failed when every part was released', [s('failed'), s('failed')], 'failed'],
    ['partly refunded when some of each', [s('succeeded'), s('failed')], 'partly_refunded'],
    ['undecided while a part is in flight', [s('succeeded'), s('processing', false)], undefined],
    ['undecided while a part waits for a person', [s('succeeded'), s('attention', false)], undefined],
    ['undecided while a final part is not in the ledger yet', [s('succeeded'), s('failed', false)], undefined],
    ['undecided with no parts yet', [], undefined],
  ] as [string, { state: string; applied: boolean }[], string | undefined][])('%s', (_name, parts, expected) => {
    expect(refundState(parts)).toBe(expected);
  });
});
