import { describe, expect, it } from 'vitest';
import { fen } from '../common/money.js';
import { placement, reviewReason, type FormFacts, type RiskFacts } from './risk.js';

const config = {
  maxDailyCount: 3,
  maxDailyFen: fen(10_000),
  newLinkHoldMs: 3_600_000,
  maxPerHour: 2,
  realNameFen: fen(200_000),
};
const now = 10 * 86_400_000;
const ok: RiskFacts = {
  amountFen: fen(500),
  linkedAtMs: now - 86_400_000,
  dayCount: 0,
  dayFen: fen(0),
  hourCount: 0,
  fraudReasons: [],
};

describe('reviewReason', () => {
  it.each([
    ['nothing for an ordinary payout', ok, undefined],
    [
      'daily_amount at 2,000 yuan past the daily amount (the real name is not a risk rule)',
      { ...ok, amountFen: fen(200_000) },
      'daily_amount',
    ],
    [
      'fraud_signals when the aggregator flagged the user',
      { ...ok, fraudReasons: ['click_injection'] },
      'fraud_signals',
    ],
    ['new_wechat_link within the hold', { ...ok, linkedAtMs: now - 60_000 }, 'new_wechat_link'],
    ['daily_count past the count', { ...ok, dayCount: 3 }, 'daily_count'],
    ['nothing at exactly the count', { ...ok, dayCount: 2 }, undefined],
    ['daily_amount past the amount', { ...ok, dayFen: fen(9_600) }, 'daily_amount'],
    ['velocity past the hourly count', { ...ok, hourCount: 2 }, 'velocity'],
  ] as const)('gives %s', (_name, facts, reason) => {
    expect(reviewReason(config, facts, now)).toBe(reason);
  });
});

describe('placement', () => {
  const big = { maxDailyFen: fen(1_000_000) };
  const facts = (over: Partial<FormFacts>): FormFacts => ({ ...ok, approved: false, hasName: false, ...over });
  it.each([
    ['an ordinary payout goes out unnamed', 'v3_bill', config, facts({}), { to: 'send', named: false }],
    [
      'a named person below 2,000 yuan goes out unnamed',
      'v3_bill',
      { ...config, ...big },
      facts({ hasName: true, amountFen: fen(199_999) }),
      { to: 'send', named: false },
    ],
    [
      '2,000 yuan without a name waits for it, not for review',
      'v3_bill',
      { ...config, ...big },
      facts({ amountFen: fen(200_000) }),
      { to: 'awaiting_name' },
    ],
    [
      '2,000 yuan with a name goes out named',
      'v3_bill',
      { ...config, ...big },
      facts({ amountFen: fen(200_000), hasName: true }),
      { to: 'send', named: true },
    ],
    [
      '2,000 yuan with a name goes out named in a v3 batch',
      'v3_batch',
      { ...config, ...big },
      facts({ amountFen: fen(200_000), hasName: true }),
      { to: 'send', named: true },
    ],
    [
      '2,000 yuan with a name goes out named through v2',
      'v2_transfer',
      { ...config, ...big },
      facts({ amountFen: fen(200_000), hasName: true }),
      { to: 'send', named: true },
    ],
    [
      'a risky payout is held for review before any name is asked for',
      'v3_bill',
      config,
      facts({ amountFen: fen(200_000), fraudReasons: ['click_flooding'] }),
      { to: 'review', reason: 'fraud_signals' },
    ],
    [
      'an approved payout skips the risk rules',
      'v3_bill',
      config,
      facts({ approved: true, fraudReasons: ['click_flooding'], dayCount: 9 }),
      { to: 'send', named: false },
    ],
    [
      'an approved payout still needs its name',
      'v3_bill',
      config,
      facts({ approved: true, amountFen: fen(200_000) }),
      { to: 'awaiting_name' },
    ],
    [
      'an approved, named payout goes out named past the daily amount',
      'v3_bill',
      config,
      facts({ approved: true, amountFen: fen(200_000), hasName: true }),
      { to: 'send', named: true },
    ],
    [
      'a v3 batch never names a detail below 0.3 yuan, whatever the threshold',
      'v3_batch',
      { ...config, realNameFen: fen(1) },
      facts({ amountFen: fen(29), hasName: true }),
      { to: 'send', named: false },
    ],
    [
      'a v3 batch names a detail of 0.3 yuan under a low threshold',
      'v3_batch',
      { ...config, realNameFen: fen(1) },
      facts({ amountFen: fen(30), hasName: true }),
      { to: 'send', named: true },
    ],
    [
      "a bill below 0.3 yuan is named under a low threshold (the 0.3 yuan rule is the batch API's)",
      'v3_bill',
      { ...config, realNameFen: fen(1) },
      facts({ amountFen: fen(29), hasName: true }),
      { to: 'send', named: true },
    ],
  ] as const)('%s', (_name, api, c, f, expected) => {
    expect(placement(c, api, f, now)).toEqual(expected);
  });
});
