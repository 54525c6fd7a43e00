// The tables of moves: what each word of WeChat's does to an order or a refund part, in every state.
import { describe, expect, it } from 'vitest';
import { fen } from '../../common/money.js';
import { payInError, type PayInCall } from '../wechat/errors.js';
import type { RefundStatus, Refused, Trade, TradeState } from './pay-in.js';
import { createRefusal, refundMove, refundRefusal, tradeMove, type OrderState, type PartState } from './states.js';

const ours = { mchid: 'M1', appid: 'wxA' };
const trade = (tradeState: TradeState, over: Partial<Trade> = {}): Trade => ({
  outTradeNo: 'T1',
  tradeState,
  mchid: 'M1',
  appid: 'wxA',
  totalFen: fen(500),
  transactionId: 'W1',
  ...over,
});
const refused = (call: PayInCall, code: string, opts: { unsigned?: boolean } = {}): Refused => {
  const info = payInError(call, code);
  return { ok: false, code, message: '', error: opts.unsigned && info.final ? { ...info, final: false } : info };
};

describe('a trade applied to an order', () => {
  it.each([
    ['SUCCESS pays a created order', 'created', trade('SUCCESS'), { to: 'paid' }],
    ['SUCCESS pays an open order', 'open', trade('SUCCESS'), { to: 'paid' }],
    ['SUCCESS pays an order being closed (the payment beat the close)', 'closing', trade('SUCCESS'), { to: 'paid' }],
    [
      'SUCCESS on a closed order goes to a person, never credited',
      'closed',
      trade('SUCCESS'),
      { to: 'attention', reason: 'paid_after_close' },
    ],
    ['SUCCESS again on a paid order changes nothing', 'paid', trade('SUCCESS'), { to: 'paid' }],
    ['SUCCESS on an order in attention changes nothing', 'attention', trade('SUCCESS'), { to: 'attention' }],
    [
      'SUCCESS of another amount goes to a person',
      'open',
      trade('SUCCESS', { totalFen: fen(499) }),
      { to: 'attention', reason: 'amount_mismatch' },
    ],
    [
      'SUCCESS of another amount on a paid order changes nothing',
      'paid',
      trade('SUCCESS', { totalFen: fen(1) }),
      { to: 'paid' },
    ],
    [
      'SUCCESS for another merchant goes to a person',
      'open',
      trade('SUCCESS', { mchid: 'M2' }),
      { to: 'attention', reason: 'merchant_mismatch' },
    ],
    [
      'SUCCESS for another appid goes to a person',
      'open',
      trade('SUCCESS', { appid: 'wxB' }),
      { to: 'attention', reason: 'merchant_mismatch' },
    ],
    ['CLOSED closes an open order', 'open', trade('CLOSED'), { to: 'closed' }],
    ['CLOSED closes an order being closed', 'closing', trade('CLOSED'), { to: 'closed' }],
    ['REVOKED closes an open order', 'open', trade('REVOKED'), { to: 'closed' }],
    ['PAYERROR closes an open order', 'open', trade('PAYERROR'), { to: 'closed' }],
    ['CLOSED of another merchant changes nothing', 'open', trade('CLOSED', { mchid: 'M2' }), { to: 'open' }],
    ['CLOSED on a paid order changes nothing', 'paid', trade('CLOSED'), { to: 'paid' }],
    ['NOTPAY keeps an open order open', 'open', trade('NOTPAY'), { to: 'open' }],
    ['USERPAYING keeps an order being closed as it is', 'closing', trade('USERPAYING'), { to: 'closing' }],
    ['REFUND on a paid order changes nothing', 'paid', trade('REFUND'), { to: 'paid' }],
  ] as [string, OrderState, Trade, ReturnType<typeof tradeMove>][])('%s', (_name, state, t, move) => {
    expect(tradeMove({ state, amountFen: fen(500) }, t, ours)).toEqual(move);
  });
});

describe("WeChat's view applied to a refund part", () => {
  const view = (status: RefundStatus, amountFen = 300) => ({
    outRefundNo: 'R1',
    outTradeNo: 'T1',
    status,
    amountFen: fen(amountFen),
  });
  it.each([
    ['SUCCESS settles a part in flight', 'processing', null, view('SUCCESS'), { to: 'succeeded' }],
    ['SUCCESS settles a part whose answer was lost', 'created', null, view('SUCCESS'), { to: 'succeeded' }],
    [
      'SUCCESS of another amount goes to a person',
      'processing',
      null,
      view('SUCCESS', 299),
      { to: 'attention', reason: 'amount_mismatch' },
    ],
    [
      'CLOSED fails a part (its money goes back to the budget)',
      'processing',
      null,
      view('CLOSED'),
      { to: 'failed', reason: 'CLOSED' },
    ],
    ['ABNORMAL goes to a person', 'processing', null, view('ABNORMAL'), { to: 'attention', reason: 'ABNORMAL' }],
    ['PROCESSING records a part WeChat accepted', 'created', null, view('PROCESSING'), { to: 'processing' }],
    ['a succeeded part never changes again', 'succeeded', null, view('CLOSED'), { to: 'succeeded' }],
    ['a failed part never changes again', 'failed', 'CLOSED', view('SUCCESS'), { to: 'failed' }],
    [
      'a part in attention for another amount never changes again',
      'attention',
      'amount_mismatch',
      view('SUCCESS'),
      { to: 'attention' },
    ],
    [
      'an ABNORMAL part a person handled succeeds on SUCCESS of its amount',
      'attention',
      'ABNORMAL',
      view('SUCCESS'),
      { to: 'succeeded' },
    ],
    [
      'an ABNORMAL part handled for another amount stays with a person, for the amount now',
      'attention',
      'ABNORMAL',
      view('SUCCESS', 299),
      { to: 'attention', reason: 'amount_mismatch' },
    ],
    [
      'an ABNORMAL part stays while WeChat still says ABNORMAL',
      'attention',
      'ABNORMAL',
      view('ABNORMAL'),
      { to: 'attention' },
    ],
    [
      'an ABNORMAL part stays while a handling is under way (PROCESSING)',
      'attention',
      'ABNORMAL',
      view('PROCESSING'),
      { to: 'attention' },
    ],
    ['an ABNORMAL part never fails (CLOSED)', 'attention', 'ABNORMAL', view('CLOSED'), { to: 'attention' }],
    ['a failed part never succeeds, whatever its reason', 'failed', 'ABNORMAL', view('SUCCESS'), { to: 'failed' }],
  ] as [string, PartState, string | null, ReturnType<typeof view>, ReturnType<typeof refundMove>][])(
    '%s',
    (_name, state, stateReason, v, move) => {
      expect(refundMove({ state, amountFen: fen(300), stateReason }, v)).toEqual(move);
    },
  );
});

describe('refusals', () => {
  it.each([
    ["NOT_ENOUGH (the merchant's balance is short) fails a refund", refused('refund', 'NOT_ENOUGH'), 'failed'],
    ['INVALID_REQUEST (more than is refundable) fails a refund', refused('refund', 'INVALID_REQUEST'), 'failed'],
    ['SYSTEM_ERROR sends the refund again', refused('refund', 'SYSTEM_ERROR'), 'retry'],
    ['FREQUENCY_LIMITED sends the refund again', refused('refund', 'FREQUENCY_LIMITED'), 'retry'],
    ['an unsigned NOT_ENOUGH is never final', refused('refund', 'NOT_ENOUGH', { unsigned: true }), 'hold'],
    ['SIGN_ERROR holds the refund for a person', refused('refund', 'SIGN_ERROR', { unsigned: true }), 'hold'],
  ] as const)('%s', (_name, r, meaning) => {
    expect(refundRefusal(r)).toBe(meaning);
  });

  it.each([
    ['SYSTEM_ERROR leaves the order created, to be sent again', refused('order', 'SYSTEM_ERROR'), 'retry'],
    ['ORDERPAID on a create sent again asks a query', refused('order', 'ORDERPAID'), 'query'],
    ['ORDER_CLOSED on a create sent again asks a query', refused('order', 'ORDER_CLOSED'), 'query'],
    ['PARAM_ERROR closes the order (nothing can be paid on it)', refused('order', 'PARAM_ERROR'), 'closed'],
    ['an unsigned SIGN_ERROR closes the order', refused('order', 'SIGN_ERROR', { unsigned: true }), 'closed'],
  ] as const)('%s', (_name, r, meaning) => {
    expect(createRefusal(r)).toBe(meaning);
  });
});
