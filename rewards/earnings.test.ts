import { describe, expect, it } from 'vitest';
import { batchTransfer, capDay, decideEarnings, ruleAt, type Earning, type RewardRule } from './earnings.js';
import { accountKey, balanceOf, fen, planTransfers, type Account, type AccountRef } from './ledger.js';

const T0 = Date.UTC(2026, 10, 20, 12);
const rule = (over: Partial<RewardRule> = {}): RewardRule => ({
  campaignId: 'c1', effectiveFrom: T0 - 3_600_000, currency: 'CNY', rewardCompleteFen: fen(10), conversionFen: fen(100),
  userDailyCapFen: fen(25), feeBps: 1000, ...over,
});
let n = 0;
const earning = (over: Partial<Earning> = {}): Earning => {
  n++;
  return { earningId: `e${n}`, sourceEventId: `s${n}`, appId: 'a', userId: 'u1', campaignId: 'c1', type: 'REWARD_COMPLETE', eventTime: T0, verifiedAt: T0, ...over };
};

function decide(earnings: Earning[], rules: RewardRule[], budgetFen: bigint) {
  const accounts = new Map<string, Account>();
  const refs: AccountRef[] = [{ type: 'campaign_budget', owner: 'c1', currency: 'CNY' }, { type: 'platform_revenue', owner: '', currency: 'CNY' },
    ...earnings.map((e): AccountRef => ({ type: 'user_available', owner: e.userId, currency: 'CNY' }))];
  for (const ref of refs) accounts.set(accountKey(ref), { ...ref, id: accountKey(ref), debits: 0n, credits: ref.type === 'campaign_budget' ? budgetFen : 0n });
  const records = decideEarnings(earnings, { rules: () => rules, accounts, daily: new Map() });
  const paid = batchTransfer(records);
  const planned = paid ? planTransfers([paid], { accounts, existing: new Map() }) : [];
  const balance = (type: Account['type'], owner: string) => balanceOf(accounts.get(accountKey({ type, owner, currency: 'CNY' }))!);
  return { records, planned, outcomes: records.map((r) => (r.outcome.status === 'posted' ? `posted ${r.amountFen}+${r.feeFen}` : r.outcome.reason)), balance };
}

describe('decideEarnings', () => {
  it('pays the rule amount to the user and the fee to the platform, from the budget', () => {
    const { outcomes, planned, balance } = decide([earning(), earning({ type: 'CONVERSION', userId: 'u2' })], [rule({ userDailyCapFen: null })], 1_000n);
    expect(outcomes).toEqual(['posted 10+1', 'posted 100+10']);
    expect(planned).toEqual([{ status: 'created' }]);
    expect(balance('user_available', 'u1')).toBe(10n);
    expect(balance('platform_revenue', '')).toBe(11n);
    expect(balance('campaign_budget', 'c1')).toBe(1_000n - 121n);
  });

  it('refuses, never partly pays, what passes the daily cap or the budget', () => {
    expect(decide([earning(), earning(), earning(), earning({ userId: 'u2' })], [rule()], 1_000n).outcomes)
      .toEqual(['posted 10+1', 'posted 10+1', 'daily_cap', 'posted 10+1']);
    const exhausted = decide([earning(), earning({ userId: 'u2' }), earning({ userId: 'u3' })], [rule()], 22n);
    expect(exhausted.outcomes).toEqual(['posted 10+1', 'posted 10+1', 'budget_exhausted']);
    expect(exhausted.planned).toEqual([{ status: 'created' }]); // what was decided fits the budget
    expect(exhausted.balance('campaign_budget', 'c1')).toBe(0n);
  });

  it('uses the rule in effect when the earning was verified', () => {
    const rules = [rule({ userDailyCapFen: null }), rule({ effectiveFrom: T0 + 1_000, rewardCompleteFen: fen(20), userDailyCapFen: null })];
    expect(decide([earning({ verifiedAt: T0 + 999 }), earning({ verifiedAt: T0 + 1_000 })], rules, 1_000n).outcomes).toEqual(['posted 10+1', 'posted 20+2']);
    expect(decide([earning({ verifiedAt: T0 - 7_200_000 })], rules, 1_000n).outcomes).toEqual(['no_rule']);
    expect(decide([earning()], [rule({ rewardCompleteFen: fen(0) })], 1_000n).outcomes).toEqual(['no_reward']);
  });

  it('counts the daily cap by China calendar day', () => {
    expect(capDay(Date.UTC(2026, 0, 1, 15, 59))).toBe('2026-01-01');
    expect(capDay(Date.UTC(2026, 0, 1, 16, 0))).toBe('2026-01-02');
    expect(ruleAt([], T0)).toBeUndefined();
  });

  it('pays a batch with one transfer: a reward posting per earning, budgets and fees summed', () => {
    const earnings = [earning(), earning({ userId: 'u2' }), earning({ type: 'CONVERSION' }), earning({ userId: 'u3' })];
    const { records } = decide(earnings, [rule({ userDailyCapFen: null })], 132n);
    const t = batchTransfer(records)!;
    const postings = t.postings.map((p) => `${p.side} ${p.account.type}/${p.account.owner} ${p.amount}${p.reference ? ` ${p.reference}` : ''}`);
    expect(postings).toEqual([
      'debit campaign_budget/c1 132', 'credit platform_revenue/ 12',
      `credit user_available/u1 10 ${earnings[0]!.earningId}`, `credit user_available/u2 10 ${earnings[1]!.earningId}`,
      `credit user_available/u1 100 ${earnings[2]!.earningId}`, // the fourth: budget_exhausted
    ]);
    expect(t.key).toBe(batchTransfer([...records].reverse())!.key); // the batch's earnings, in any order
    expect(batchTransfer(records.slice(3))).toBeUndefined();
  });
});
