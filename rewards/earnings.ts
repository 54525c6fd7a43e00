// What a verified earning is worth and whether it may be paid (pure). Only an earning a trusted
// server confirmed, for a campaign its own app owns, can earn; it uses its campaign's rule in effect
// when it was verified, and is refused, never partly paid, when there is no reward, when it would
// pass the person's daily cap for the campaign, or when the budget cannot cover it. One that would
// pass a platform daily limit (per person, per device) is held for review: recorded, no money moved.
import { hash as cryptoHash } from 'node:crypto';
import { personKey } from '../common/person.js';
import { fen, type Fen } from '../common/money.js';
import {
  accountKey,
  balanceOf,
  idempotencyKey,
  type Account,
  type AccountRef,
  type Posting,
  type Transfer,
} from './ledger.js';

export type EarningType = 'REWARD_COMPLETE' | 'CONVERSION';

/** A VerifiedEarning as read. Times are unix ms: `eventTime` is the device's, the others the servers'. */
export interface Earning {
  earningId: string;
  sourceEventId: string;
  appId: string;
  userId: string;
  campaignId: string;
  type: EarningType;
  eventTime: number;
  verifiedAt: number;
  deviceId: string;
  receivedAt: number;
  confirmation: string;
  confirmedAt: number;
  /** The aggregator's flags on the person when it was decided (invalid reasons of earlier traffic). */
  userFlags: string[];
}

export interface RewardRule {
  campaignId: string;
  effectiveFrom: number;
  currency: string;
  rewardCompleteFen: Fen;
  conversionFen: Fen;
  userDailyCapFen: Fen | null;
  feeBps: number;
}

export type RefusalReason =
  'unconfirmed' | 'campaign_not_in_app' | 'no_rule' | 'no_reward' | 'daily_cap' | 'budget_exhausted';
export type ReviewReason = 'user_daily_limit' | 'device_daily_limit';

/**
 * An earning decided: posted (paid by its batch's transfer, `batchTransfer`), refused, or held for
 * review (its amounts are what approval pays); `currency` is its rule's ('' when it has none).
 */
export interface EarningRecord {
  earning: Earning;
  day: string;
  currency: string;
  amountFen: Fen;
  feeFen: Fen;
  outcome:
    { status: 'posted' } | { status: 'refused'; reason: RefusalReason } | { status: 'review'; reason: ReviewReason };
}

/** Platform-wide daily earning limits (null = none), and the time zone money days are counted in. */
export interface MoneyRules {
  userDailyLimitFen: Fen | null;
  deviceDailyLimitFen: Fen | null;
  timezoneOffsetMs: number;
}

/** China has one time zone and no daylight saving: UTC+8, the default day of every money rule. */
export const CHINA_OFFSET_MS = 8 * 3_600_000;
export const noLimits: MoneyRules = {
  userDailyLimitFen: null,
  deviceDailyLimitFen: null,
  timezoneOffsetMs: CHINA_OFFSET_MS,
};

const DAY_MS = 86_400_000;
let lastDay = { start: 0, name: '1970-01-01' }; // a batch's earnings mostly fall on one day

/**
 * The calendar day (YYYY-MM-DD, in the zone `offsetMs` east of UTC) that daily caps and limits count
 * an earning in. Called with the server's `verifiedAt`, never the device's clock: a backdated
 * `occurred_at` cannot move an earning into another day.
 */
export function capDay(serverMs: number, offsetMs = CHINA_OFFSET_MS): string {
  const start = Math.floor((serverMs + offsetMs) / DAY_MS) * DAY_MS;
  if (start !== lastDay.start) lastDay = { start, name: new Date(start).toISOString().slice(0, 10) };
  return lastDay.name;
}

/** The rule in effect at `at`: the latest whose effectiveFrom is not after it. */
export function ruleAt(rules: readonly RewardRule[], at: number): RewardRule | undefined {
  let found: RewardRule | undefined;
  for (const r of rules) if (r.effectiveFrom <= at && (!found || r.effectiveFrom > found.effectiveFrom)) found = r;
  return found;
}

/** Map keys of the daily sums: a person's for one campaign (its cap), a person's (the user limit), a device's in its app. */
export const dailyKey = (person: string, campaignId: string, day: string) => `${person}\u0000${campaignId}\u0000${day}`;
export const personDayKey = (person: string, day: string) => `${person}\u0000${day}`;
export const deviceDayKey = (appId: string, deviceId: string, day: string) => `${appId}\u0000${deviceId}\u0000${day}`;

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
    rewards.push({
      account: { type: 'user_available', owner: personKey(e), currency },
      side: 'credit',
      amount: amountFen,
      reference: e.earningId,
    });
  }
  if (ids.length === 0) return undefined;
  return {
    key: `earnings:${cryptoHash('sha256', ids.sort().join(' '), 'hex')}`,
    kind: 'earning',
    reference: '',
    postings: [...summed.values(), ...rewards],
  };
}

/** Advertiser money into a campaign's budget; `reference` (e.g. the advertiser's payment id) keys it. */
export function fundingTransfer(campaignId: string, amountFen: Fen, reference: string, currency: string): Transfer {
  return {
    key: idempotencyKey('fund', campaignId, reference),
    kind: 'fund',
    reference,
    postings: [
      { account: { type: 'advertiser_funding', owner: '', currency }, side: 'debit', amount: amountFen },
      { account: { type: 'campaign_budget', owner: campaignId, currency }, side: 'credit', amount: amountFen },
    ],
  };
}

/** The posted sums an earning is counted against, by dailyKey, personDayKey and deviceDayKey; updated in place. */
export interface DailySums {
  daily: Map<string, bigint>;
  personDaily: Map<string, bigint>;
  deviceDaily: Map<string, bigint>;
}

/**
 * Decides each earning in order against the campaign budgets in `accounts` (keyed by accountKey) and
 * the posted daily sums (updated in place as earnings post). `campaignApp` is the app that owns a
 * campaign (null: none; undefined: no campaign row). The accounts are not changed: the caller plans
 * the batch's transfer against them (planTransfers), which then cannot be refused.
 */
export function decideEarnings(
  earnings: Earning[],
  state: DailySums & {
    rules(campaignId: string): readonly RewardRule[];
    campaignApp(campaignId: string): string | null | undefined;
    accounts: Map<string, Account>;
  },
  money: MoneyRules = noLimits,
): EarningRecord[] {
  const spent = new Map<string, bigint>(); // by budget accountKey: what this batch's posted earnings take
  const limits = { user: money.userDailyLimitFen, device: money.deviceDailyLimitFen };
  return earnings.map((earning): EarningRecord => {
    const day = capDay(earning.verifiedAt, money.timezoneOffsetMs);
    const refused = (reason: RefusalReason): EarningRecord => ({
      earning,
      day,
      currency: '',
      amountFen: fen(0),
      feeFen: fen(0),
      outcome: { status: 'refused', reason },
    });
    // Nothing a device says is trusted on its own: an earning needs a server's confirmation, and a
    // campaign of its own app (a key of app A earns nothing from app B's campaigns).
    if (earning.confirmation === '') return refused('unconfirmed');
    if (state.campaignApp(earning.campaignId) !== earning.appId) return refused('campaign_not_in_app');
    const rule = ruleAt(state.rules(earning.campaignId), earning.verifiedAt);
    if (!rule) return refused('no_rule');
    const { currency } = rule;
    const amountFen = earning.type === 'REWARD_COMPLETE' ? rule.rewardCompleteFen : rule.conversionFen;
    const feeFen = fen((amountFen * BigInt(rule.feeBps)) / 10_000n);
    const decided = (outcome: EarningRecord['outcome']): EarningRecord => ({
      earning,
      day,
      currency,
      amountFen,
      feeFen,
      outcome,
    });
    if (amountFen === 0n) return decided({ status: 'refused', reason: 'no_reward' });
    const person = personKey(earning);
    const key = dailyKey(person, earning.campaignId, day);
    const today = state.daily.get(key) ?? 0n;
    if (rule.userDailyCapFen !== null && today + amountFen > rule.userDailyCapFen)
      return decided({ status: 'refused', reason: 'daily_cap' });
    // The platform limits' keys are made only when a limit is set: the hot path pays nothing otherwise.
    const personKeyOfDay = limits.user === null ? undefined : personDayKey(person, day);
    const personToday = personKeyOfDay === undefined ? 0n : (state.personDaily.get(personKeyOfDay) ?? 0n);
    if (limits.user !== null && personToday + amountFen > limits.user)
      return decided({ status: 'review', reason: 'user_daily_limit' });
    const deviceKey = limits.device === null ? undefined : deviceDayKey(earning.appId, earning.deviceId, day);
    const deviceToday = deviceKey === undefined ? 0n : (state.deviceDaily.get(deviceKey) ?? 0n);
    // An earning with no device cannot be counted against the device limit, so it waits for a person.
    if (limits.device !== null && (earning.deviceId === '' || deviceToday + amountFen > limits.device))
      return decided({ status: 'review', reason: 'device_daily_limit' });
    const budgetKey = accountKey({ type: 'campaign_budget', owner: earning.campaignId, currency });
    const budget = state.accounts.get(budgetKey);
    if (!budget) throw new Error(`earning ${earning.earningId}: the budget ${budgetKey} was not read`);
    const spending = (spent.get(budgetKey) ?? 0n) + amountFen + feeFen;
    if (balanceOf(budget) < spending) return decided({ status: 'refused', reason: 'budget_exhausted' });
    spent.set(budgetKey, spending);
    state.daily.set(key, today + amountFen);
    if (personKeyOfDay !== undefined) state.personDaily.set(personKeyOfDay, personToday + amountFen);
    if (deviceKey !== undefined) state.deviceDaily.set(deviceKey, deviceToday + amountFen);
    return decided({ status: 'posted' });
  });
}

/**
 * The transfer that pays one earning held for review, once an operator approves it: the amounts
 * decided when it was held, from its campaign's budget, to `person` (its `<app_id>:<user_id>`). Its
 * key is the earning id, so it is posted once; the audit matches its reward to the earning's record.
 */
export function reviewTransfer(held: {
  earningId: string;
  campaignId: string;
  person: string;
  currency: string;
  amountFen: Fen;
  feeFen: Fen;
}): Transfer {
  const { earningId, campaignId, person, currency, amountFen, feeFen } = held;
  const fees: Posting[] =
    feeFen > 0n ? [{ account: { type: 'platform_revenue', owner: '', currency }, side: 'credit', amount: feeFen }] : [];
  return {
    key: `earning:${earningId}`,
    kind: 'earning',
    reference: earningId,
    postings: [
      {
        account: { type: 'campaign_budget', owner: campaignId, currency },
        side: 'debit',
        amount: fen(amountFen + feeFen),
      },
      ...fees,
      {
        account: { type: 'user_available', owner: person, currency },
        side: 'credit',
        amount: amountFen,
        reference: earningId,
      },
    ],
  };
}
