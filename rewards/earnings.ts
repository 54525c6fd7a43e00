// What a verified earning is worth and whether it may be paid (pure). An earning uses its campaign's
// rule in effect when it was verified; it is refused, never partly paid, when there is no reward,
// when it would pass the user's daily cap, or when the campaign's budget cannot cover it.
import { hash as cryptoHash } from 'node:crypto';
import { accountKey, fen, planTransfers, type Account, type Existing, type Fen, type Posting, type Transfer } from './ledger.js';

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

export interface EarningRecord {
  earning: Earning; day: string; amountFen: Fen; feeFen: Fen;
  outcome: { status: 'posted'; transfer: Transfer } | { status: 'refused'; reason: RefusalReason };
}

const CHINA_OFFSET_MS = 8 * 3_600_000; // China has one time zone and no daylight saving

/** The calendar day (YYYY-MM-DD, China time) a daily cap counts an earning in. */
export const capDay = (eventTime: number): string => new Date(eventTime + CHINA_OFFSET_MS).toISOString().slice(0, 10);

/** The rule in effect at `at`: the latest whose effectiveFrom is not after it. */
export function ruleAt(rules: readonly RewardRule[], at: number): RewardRule | undefined {
  let found: RewardRule | undefined;
  for (const r of rules) if (r.effectiveFrom <= at && (!found || r.effectiveFrom > found.effectiveFrom)) found = r;
  return found;
}

export const dailyKey = (userId: string, campaignId: string, day: string) => `${userId}\u0000${campaignId}\u0000${day}`;

/**
 * What pays an earning: the campaign's budget pays the user's reward and the platform's fee. It is
 * planned on its own, and written as part of its batch's transfer (`batchTransfer`).
 */
export function earningTransfer(e: Earning, currency: string, amountFen: Fen, feeFen: Fen): Transfer {
  const postings: Posting[] = [
    { account: { type: 'campaign_budget', owner: e.campaignId, currency }, side: 'debit', amount: fen(amountFen + feeFen) },
    { account: { type: 'user_available', owner: e.userId, currency }, side: 'credit', amount: amountFen, reference: e.earningId },
  ];
  if (feeFen > 0n) postings.push({ account: { type: 'platform_revenue', owner: '', currency }, side: 'credit', amount: feeFen });
  return { key: `earning:${e.earningId}`, kind: 'earning', reference: e.earningId, postings };
}

/**
 * The one transfer that pays a batch's posted earnings. Each user's reward stays a posting of its
 * own, naming its earning; the budgets' debits and the platform's fees are summed per account. So
 * an earning costs the journal one posting, not three postings and a transaction. The key follows
 * from the batch's earning ids, so the same batch posted twice is one transfer.
 */
export function batchTransfer(records: EarningRecord[]): Transfer | undefined {
  const summed = new Map<string, Posting>();
  const rewards: Posting[] = [];
  const ids: string[] = [];
  for (const r of records) {
    if (r.outcome.status !== 'posted') continue;
    ids.push(r.earning.earningId);
    for (const p of r.outcome.transfer.postings) {
      if (p.reference !== undefined) {
        rewards.push(p);
        continue;
      }
      const key = `${accountKey(p.account)} ${p.side}`;
      const sum = summed.get(key);
      if (sum) sum.amount = fen(sum.amount + p.amount);
      else summed.set(key, { ...p });
    }
  }
  if (ids.length === 0) return undefined;
  return { key: `earnings:${cryptoHash('sha256', ids.sort().join(' '), 'hex')}`, kind: 'earning', reference: '', postings: [...summed.values(), ...rewards] };
}

/** Advertiser money into a campaign's budget; `reference` (e.g. the advertiser's payment id) keys it. */
export function fundingTransfer(campaignId: string, amountFen: Fen, reference: string, currency: string): Transfer {
  return {
    key: `fund:${campaignId}:${reference}`, kind: 'fund', reference,
    postings: [
      { account: { type: 'advertiser_funding', owner: '', currency }, side: 'debit', amount: amountFen },
      { account: { type: 'campaign_budget', owner: campaignId, currency }, side: 'credit', amount: amountFen },
    ],
  };
}

/**
 * Decides each earning in order against the locked `accounts` (applying the paid ones in place) and
 * `daily` (posted amount per dailyKey, updated in place).
 */
export function decideEarnings(
  earnings: Earning[],
  state: { rules(campaignId: string): readonly RewardRule[]; accounts: Map<string, Account>; daily: Map<string, bigint>; existing: Map<string, Existing> },
): EarningRecord[] {
  return earnings.map((earning): EarningRecord => {
    const day = capDay(earning.eventTime);
    const refused = (reason: RefusalReason, amountFen = fen(0), feeFen = fen(0)): EarningRecord =>
      ({ earning, day, amountFen, feeFen, outcome: { status: 'refused', reason } });
    const rule = ruleAt(state.rules(earning.campaignId), earning.verifiedAt);
    if (!rule) return refused('no_rule');
    const amountFen = earning.type === 'REWARD_COMPLETE' ? rule.rewardCompleteFen : rule.conversionFen;
    if (amountFen === 0n) return refused('no_reward');
    const feeFen = fen((amountFen * BigInt(rule.feeBps)) / 10_000n);
    const key = dailyKey(earning.userId, earning.campaignId, day);
    const today = state.daily.get(key) ?? 0n;
    if (rule.userDailyCapFen !== null && today + amountFen > rule.userDailyCapFen) return refused('daily_cap', amountFen, feeFen);
    const transfer = earningTransfer(earning, rule.currency, amountFen, feeFen);
    const [result] = planTransfers([transfer], state);
    if (result!.status === 'exceeds_balance') return refused('budget_exhausted', amountFen, feeFen);
    if (result!.status !== 'created') throw new Error(`earning ${earning.earningId}: unexpected ${result!.status}`);
    state.daily.set(key, today + amountFen);
    return { earning, day, amountFen, feeFen, outcome: { status: 'posted', transfer } };
  });
}
