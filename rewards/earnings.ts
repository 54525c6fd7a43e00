// What a verified earning is worth and whether it may be paid (pure). An earning uses its campaign's
// rule in effect when it was verified; it is refused, never partly paid, when there is no reward,
// when it would pass the user's daily cap, or when the campaign's budget cannot cover it.
import { hash as cryptoHash } from 'node:crypto';
import { accountKey, balanceOf, fen, idempotencyKey, type Account, type AccountRef, type Fen, type Posting, type Transfer } from './ledger.js';

export type EarningType = 'REWARD_COMPLETE' | 'CONVERSION';

export interface Earning {
  earningId: string; sourceEventId: string; appId: string; userId: string; campaignId: string;
  type: EarningType; eventTime: number; verifiedAt: number;
}

export interface RewardRule {
  campaignId: string; effectiveFrom: number; currency: string;
  rewardCompleteFen: Fen; conversionFen: Fen; userDailyCapFen: Fen | null; feeBps: number;
}

export type RefusalReason = 'no_rule' | 'no_reward' | 'daily_cap' | 'budget_exhausted';

/** An earning decided: posted (paid by its batch's transfer, `batchTransfer`) or refused; `currency` is its rule's ('' when it has none). */
export interface EarningRecord {
  earning: Earning; day: string; currency: string; amountFen: Fen; feeFen: Fen;
  outcome: { status: 'posted' } | { status: 'refused'; reason: RefusalReason };
}

const CHINA_OFFSET_MS = 8 * 3_600_000; // China has one time zone and no daylight saving

const DAY_MS = 86_400_000;
let lastDay = { start: 0, name: '1970-01-01' }; // a batch's earnings mostly fall on one day

/** The calendar day (YYYY-MM-DD, China time) a daily cap counts an earning in. */
export function capDay(eventTime: number): string {
  const start = Math.floor((eventTime + CHINA_OFFSET_MS) / DAY_MS) * DAY_MS;
  if (start !== lastDay.start) lastDay = { start, name: new Date(start).toISOString().slice(0, 10) };
  return lastDay.name;
}

/** The rule in effect at `at`: the latest whose effectiveFrom is not after it. */
export function ruleAt(rules: readonly RewardRule[], at: number): RewardRule | undefined {
  let found: RewardRule | undefined;
  for (const r of rules) if (r.effectiveFrom <= at && (!found || r.effectiveFrom > found.effectiveFrom)) found = r;
  return found;
}

export const dailyKey = (userId: string, campaignId: string, day: string) => `${userId}\u0000${campaignId}\u0000${day}`;

/**
 * The one transfer that pays a batch's posted earnings: the campaign budgets pay the users' rewards
 * and the platform's fees. Each user's reward is a posting of its own, naming its earning; the
 * budgets' debits and the fees are summed per account. So an earning costs the journal one posting,
 * not three postings and a transaction of its own. The key follows from the batch's earning ids,
 * so the same batch posted twice is one transfer.
 */
export function batchTransfer(records: EarningRecord[]): Transfer | undefined {
  const summed = new Map<string, Posting>();
  const add = (account: AccountRef, side: Posting['side'], amount: Fen) => {
    const key = `${accountKey(account)} ${side}`;
    const sum = summed.get(key);
    if (sum) sum.amount = fen(sum.amount + amount);
    else summed.set(key, { account, side, amount });
  };
  const rewards: Posting[] = [];
  const ids: string[] = [];
  for (const { earning: e, outcome, currency, amountFen, feeFen } of records) {
    if (outcome.status !== 'posted') continue;
    ids.push(e.earningId);
    add({ type: 'campaign_budget', owner: e.campaignId, currency }, 'debit', fen(amountFen + feeFen));
    if (feeFen > 0n) add({ type: 'platform_revenue', owner: '', currency }, 'credit', feeFen);
    rewards.push({ account: { type: 'user_available', owner: e.userId, currency }, side: 'credit', amount: amountFen, reference: e.earningId });
  }
  if (ids.length === 0) return undefined;
  return { key: `earnings:${cryptoHash('sha256', ids.sort().join(' '), 'hex')}`, kind: 'earning', reference: '', postings: [...summed.values(), ...rewards] };
}

/** Advertiser money into a campaign's budget; `reference` (e.g. the advertiser's payment id) keys it. */
export function fundingTransfer(campaignId: string, amountFen: Fen, reference: string, currency: string): Transfer {
  return {
    key: idempotencyKey('fund', campaignId, reference), kind: 'fund', reference,
    postings: [
      { account: { type: 'advertiser_funding', owner: '', currency }, side: 'debit', amount: amountFen },
      { account: { type: 'campaign_budget', owner: campaignId, currency }, side: 'credit', amount: amountFen },
    ],
  };
}

/**
 * Decides each earning in order against the campaign budgets in `accounts` (keyed by accountKey)
 * and `daily` (posted amount per dailyKey, updated in place). The accounts are not changed: the
 * caller plans the batch's transfer against them (planTransfers), which then cannot be refused.
 */
export function decideEarnings(
  earnings: Earning[],
  state: { rules(campaignId: string): readonly RewardRule[]; accounts: Map<string, Account>; daily: Map<string, bigint> },
): EarningRecord[] {
  const spent = new Map<string, bigint>(); // by budget accountKey: what this batch's posted earnings take
  return earnings.map((earning): EarningRecord => {
    const day = capDay(earning.eventTime);
    const rule = ruleAt(state.rules(earning.campaignId), earning.verifiedAt);
    if (!rule) return { earning, day, currency: '', amountFen: fen(0), feeFen: fen(0), outcome: { status: 'refused', reason: 'no_rule' } };
    const { currency } = rule;
    const amountFen = earning.type === 'REWARD_COMPLETE' ? rule.rewardCompleteFen : rule.conversionFen;
    const feeFen = fen((amountFen * BigInt(rule.feeBps)) / 10_000n);
    const decided = (outcome: EarningRecord['outcome']): EarningRecord => ({ earning, day, currency, amountFen, feeFen, outcome });
    if (amountFen === 0n) return decided({ status: 'refused', reason: 'no_reward' });
    const key = dailyKey(earning.userId, earning.campaignId, day);
    const today = state.daily.get(key) ?? 0n;
    if (rule.userDailyCapFen !== null && today + amountFen > rule.userDailyCapFen) return decided({ status: 'refused', reason: 'daily_cap' });
    const budgetKey = accountKey({ type: 'campaign_budget', owner: earning.campaignId, currency });
    const budget = state.accounts.get(budgetKey);
    if (!budget) throw new Error(`earning ${earning.earningId}: the budget ${budgetKey} was not read`);
    const spending = (spent.get(budgetKey) ?? 0n) + amountFen + feeFen;
    if (balanceOf(budget) < spending) return decided({ status: 'refused', reason: 'budget_exhausted' });
    spent.set(budgetKey, spending);
    state.daily.set(key, today + amountFen);
    return decided({ status: 'posted' });
  });
}
