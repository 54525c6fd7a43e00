import { describe, expect, it } from 'vitest';
import { reviewReason, type RiskFacts } from './risk.js';

const config = { maxDailyCount: 3, maxDailyFen: 10_000, newLinkHoldMs: 3_600_000, maxPerHour: 2, realNameFen: 200_000 };
const now = 10 * 86_400_000;
const ok: RiskFacts = { amountFen: 500, linkedAtMs: now - 86_400_000, dayCount: 0, dayFen: 0, hourCount: 0, fraudReasons: [] };

describe('reviewReason', () => {
  it.each([
    ['nothing for an ordinary payout', ok, undefined],
    ['real_name_required at 2,000 yuan', { ...ok, amountFen: 200_000 }, 'real_name_required'],
    ['fraud_signals when the aggregator flagged the user', { ...ok, fraudReasons: ['click_injection'] }, 'fraud_signals'],
    ['new_wechat_link within the hold', { ...ok, linkedAtMs: now - 60_000 }, 'new_wechat_link'],
    ['daily_count past the count', { ...ok, dayCount: 3 }, 'daily_count'],
    ['nothing at exactly the count', { ...ok, dayCount: 2 }, undefined],
    ['daily_amount past the amount', { ...ok, dayFen: 9_600 }, 'daily_amount'],
    ['velocity past the hourly count', { ...ok, hourCount: 2 }, 'velocity'],
  ] as const)('gives %s', (_name, facts, reason) => {
    expect(reviewReason(config, facts, now)).toBe(reason);
  });
});
