import { describe, expect, it } from 'vitest';
import {
  batchTransfer,
  capDay,
  decideEarnings,
  noLimits,
  reviewTransfer,
  ruleAt,
  type Earning,
  type MoneyRules,
  type RewardRule,
} from './earnings.js';
import { fen } from '../common/money.js';
import { accountKey, balanceOf, planTransfers, type Account, type AccountRef } from './ledger.js';

const T0 = Date.UTC(2026, 10, 20, 12);
const rule = (over: Partial<RewardRule> = {}): RewardRule => ({
  campaignId: 'c1',
  effectiveFrom: T0 - 3_600_000,
  currency: 'CNY',
  rewardCompleteFen: fen(10),
  conversionFen: fen(100),
  userDailyCapFen: fen(25),
  feeBps: 1000,
  ...over,
});
let n = 0;
const earning = (over: Partial<Earning> = {}): Earning => {
  n++;
  return {
    earningId: `e${n}`,
    sourceEventId: `s${n}`,
    appId: 'a',
    userId: 'u1',
    campaignId: 'c1',
    type: 'REWARD_COMPLETE',
    eventTime: T0,
    verifiedAt: T0,
    deviceId: 'd1',
    receivedAt: T0,
    confirmation: `admob:t${n}`,
    confirmedAt: T0,
    userFlags: [],
    ...over,
  };
};
const owners: Record<string, string | null> = { c1: 'a', orphan: null, theirs: 'b' };

function decide(earnings: Earning[], rules: RewardRule[], budgetFen: bigint, money: MoneyRules = noLimits) {
  const accounts = new Map<string, Account>();
  const refs: AccountRef[] = [
    { type: 'platform_revenue', owner: '', currency: 'CNY' },
    ...earnings.map((e): AccountRef => ({ type: 'campaign_budget', owner: e.campaignId, currency: 'CNY' })),
    ...earnings.map((e): AccountRef => ({ type: 'user_available', owner: `${e.appId}:${e.userId}`, currency: 'CNY' })),
  ];
  for (const ref of refs)
    accounts.set(accountKey(ref), {
      ...ref,
      id: accountKey(ref),
      debits: 0n,
      credits: ref.type === 'campaign_budget' ? budgetFen : 0n,
    });
  const records = decideEarnings(
    earnings,
    {
      rules: () => rules,
      campaignApp: (c) => owners[c],
      accounts,
      daily: new Map(),
      personDaily: new Map(),
      deviceDaily: new Map(),
    },
    money,
  );
  const paid = batchTransfer(records);
  const planned = paid ? planTransfers([paid], { accounts, existing: new Map() }) : [];
  const balance = (type: Account['type'], owner: string) =>
    balanceOf(accounts.get(accountKey({ type, owner, currency: 'CNY' }))!);
  const outcomes = records.map((r) =>
    r.outcome.status === 'posted'
      ? `posted ${r.amountFen}+${r.feeFen}`
      : r.outcome.status === 'review'
        ? `review ${r.outcome.reason}`
        : r.outcome.reason,
  );
  return { records, planned, outcomes, balance };
}

describe('decideEarnings', () => {
  it('pays the rule amount to the user and the fee to the platform, from the budget', () => {
    const { outcomes, planned, balance } = decide(
      [earning(), earning({ type: 'CONVERSION', userId: 'u2' })],
      [rule({ userDailyCapFen: null })],
      1_000n,
    );
    expect(outcomes).toEqual(['posted 10+1', 'posted 100+10']);
    expect(planned).toEqual([{ status: 'created' }]);
    expect(balance('user_available', 'a:u1')).toBe(10n);
    expect(balance('platform_revenue', '')).toBe(11n);
    expect(balance('campaign_budget', 'c1')).toBe(1_000n - 121n);
  });

  it('refuses, never partly pays, what passes the daily cap or the budget', () => {
    expect(decide([earning(), earning(), earning(), earning({ userId: 'u2' })], [rule()], 1_000n).outcomes).toEqual([
      'posted 10+1',
      'posted 10+1',
      'daily_cap',
      'posted 10+1',
    ]);
    const exhausted = decide([earning(), earning({ userId: 'u2' }), earning({ userId: 'u3' })], [rule()], 22n);
    expect(exhausted.outcomes).toEqual(['posted 10+1', 'posted 10+1', 'budget_exhausted']);
    expect(exhausted.planned).toEqual([{ status: 'created' }]); // what was decided fits the budget
    expect(exhausted.balance('campaign_budget', 'c1')).toBe(0n);
  });

  it('uses the rule in effect when the earning was verified', () => {
    const rules = [
      rule({ userDailyCapFen: null }),
      rule({ effectiveFrom: T0 + 1_000, rewardCompleteFen: fen(20), userDailyCapFen: null }),
    ];
    expect(
      decide([earning({ verifiedAt: T0 + 999 }), earning({ verifiedAt: T0 + 1_000 })], rules, 1_000n).outcomes,
    ).toEqual(['posted 10+1', 'posted 20+2']);
    expect(decide([earning({ verifiedAt: T0 - 7_200_000 })], rules, 1_000n).outcomes).toEqual(['no_rule']);
    expect(decide([earning()], [rule({ rewardCompleteFen: fen(0) })], 1_000n).outcomes).toEqual(['no_reward']);
  });

  it('counts the daily cap by China calendar day', () => {
    expect(capDay(Date.UTC(2026, 0, 1, 15, 59))).toBe('2026-01-01');
    expect(capDay(Date.UTC(2026, 0, 1, 16, 0))).toBe('2026-01-02');
    expect(capDay(Date.UTC(2026, 0, 1, 16, 0), 0)).toBe('2026-01-01'); // REWARDS_MONEY_TIMEZONE_OFFSET_MIN=0
    expect(ruleAt([], T0)).toBeUndefined();
  });

  it("counts the day by the server's verified_at: backdated device times within one server day cannot pass the cap", () => {
    // The attack of issue 22: each event claims another day by its occurred_at; all reached the servers today.
    const backdated = [0, 1, 2, 3].map((d) => earning({ eventTime: T0 - d * 86_400_000 }));
    const { outcomes, records } = decide(backdated, [rule()], 1_000n);
    expect(outcomes).toEqual(['posted 10+1', 'posted 10+1', 'daily_cap', 'daily_cap']);
    expect(new Set(records.map((r) => r.day))).toEqual(new Set([capDay(T0)]));
    // Verified on two server days, the same device time counts in each day.
    expect(decide([earning(), earning(), earning({ verifiedAt: T0 + 86_400_000 })], [rule()], 1_000n).outcomes).toEqual(
      ['posted 10+1', 'posted 10+1', 'posted 10+1'],
    );
  });

  it.each([
    ['no confirmation', earning({ confirmation: '' }), 'unconfirmed'],
    ['a campaign no app owns', earning({ campaignId: 'orphan' }), 'campaign_not_in_app'],
    ['a campaign of another app', earning({ campaignId: 'theirs' }), 'campaign_not_in_app'],
    ['a campaign with no row', earning({ campaignId: 'unknown' }), 'campaign_not_in_app'],
  ])('refuses, minting nothing, an earning with %s', (_name, e, reason) => {
    const { outcomes, records } = decide([e], [rule({ userDailyCapFen: null })], 1_000n);
    expect(outcomes).toEqual([reason]);
    expect(batchTransfer(records)).toBeUndefined();
  });

  it('holds for review, paying nothing, what would pass a platform daily limit per person or per device', () => {
    const limits = (user: number | null, device: number | null): MoneyRules => ({
      ...noLimits,
      userDailyLimitFen: user === null ? null : fen(user),
      deviceDailyLimitFen: device === null ? null : fen(device),
    });
    const uncapped = [rule({ userDailyCapFen: null })];
    // Per person, across campaigns and devices; another app's u1 is another person.
    expect(
      decide(
        [
          earning(),
          earning({ deviceId: 'd2' }),
          earning({ type: 'CONVERSION' }),
          earning({ appId: 'b', campaignId: 'theirs' }),
          earning({ userId: 'u2' }),
        ],
        uncapped,
        1_000n,
        limits(20, null),
      ).outcomes,
    ).toEqual(['posted 10+1', 'posted 10+1', 'review user_daily_limit', 'posted 10+1', 'posted 10+1']);
    // Per device of an app, across persons; a device without an id cannot be counted, so it waits.
    const device = decide(
      [
        earning(),
        earning({ userId: 'u2' }),
        earning({ userId: 'u3' }),
        earning({ userId: 'u4', deviceId: 'd2' }),
        earning({ userId: 'u5', deviceId: '' }),
      ],
      uncapped,
      1_000n,
      limits(null, 20),
    );
    expect(device.outcomes).toEqual([
      'posted 10+1',
      'posted 10+1',
      'review device_daily_limit',
      'posted 10+1',
      'review device_daily_limit',
    ]);
    expect(device.records[2]).toMatchObject({ amountFen: 10n, feeFen: 1n }); // what approval would pay
    expect(device.balance('user_available', 'a:u3')).toBe(0n);
    expect(device.balance('campaign_budget', 'c1')).toBe(1_000n - 33n);
  });

  it('pays a held earning, once approved, with one transfer keyed by its earning id', () => {
    const t = reviewTransfer({
      earningId: 'e9',
      campaignId: 'c1',
      person: 'a:u1',
      currency: 'CNY',
      amountFen: fen(10),
      feeFen: fen(1),
    });
    expect(t.key).toBe('earning:e9');
    expect(
      t.postings.map(
        (p) => `${p.side} ${p.account.type}/${p.account.owner} ${p.amount}${p.reference ? ` ${p.reference}` : ''}`,
      ),
    ).toEqual(['debit campaign_budget/c1 11', 'credit platform_revenue/ 1', 'credit user_available/a:u1 10 e9']);
    expect(
      planTransfers([t], {
        accounts: new Map([
          [
            accountKey({ type: 'campaign_budget', owner: 'c1', currency: 'CNY' }),
            { type: 'campaign_budget', owner: 'c1', currency: 'CNY', id: '1', debits: 0n, credits: 10n },
          ],
        ]),
        existing: new Map(),
      }),
    ).toEqual([{ status: 'exceeds_balance', account: expect.objectContaining({ owner: 'c1' }) }]);
  });

  it('pays a batch with one transfer: a reward posting per earning, budgets and fees summed', () => {
    const earnings = [earning(), earning({ userId: 'u2' }), earning({ type: 'CONVERSION' }), earning({ userId: 'u3' })];
    const { records } = decide(earnings, [rule({ userDailyCapFen: null })], 132n);
    const t = batchTransfer(records)!;
    const postings = t.postings.map(
      (p) => `${p.side} ${p.account.type}/${p.account.owner} ${p.amount}${p.reference ? ` ${p.reference}` : ''}`,
    );
    expect(postings).toEqual([
      'debit campaign_budget/c1 132',
      'credit platform_revenue/ 12',
      `credit user_available/a:u1 10 ${earnings[0]!.earningId}`,
      `credit user_available/a:u2 10 ${earnings[1]!.earningId}`,
      `credit user_available/a:u1 100 ${earnings[2]!.earningId}`, // the fourth: budget_exhausted
    ]);
    expect(t.key).toBe(batchTransfer([...records].reverse())!.key); // the batch's earnings, in any order
    expect(batchTransfer(records.slice(3))).toBeUndefined();
  });
});
