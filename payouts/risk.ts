// Risk checks before a payout reaches the provider (pure). A payout that fails one is held for
// review (its money stays held) with the reason; an operator approves or rejects it.
export interface RiskConfig {
  maxDailyCount: number;
  maxDailyFen: number;
  /** Payouts to a WeChat account linked more recently than this wait for review. */
  newLinkHoldMs: number;
  maxPerHour: number;
  /** At or above this amount WeChat requires the payee's real name, which this service does not keep. */
  realNameFen: number;
}

export interface RiskFacts {
  amountFen: number;
  linkedAtMs: number;
  /** The user's other payouts sent or being sent: in the last 24 h, and in the last hour. */
  dayCount: number; dayFen: number; hourCount: number;
  /** Why the aggregator flagged the user's traffic as invalid, if it did. */
  fraudReasons: readonly string[];
}

export type RiskReason = 'real_name_required' | 'fraud_signals' | 'new_wechat_link' | 'daily_count' | 'daily_amount' | 'velocity';

export function reviewReason(c: RiskConfig, f: RiskFacts, nowMs: number): RiskReason | undefined {
  if (f.amountFen >= c.realNameFen) return 'real_name_required';
  if (f.fraudReasons.length > 0) return 'fraud_signals';
  if (nowMs - f.linkedAtMs < c.newLinkHoldMs) return 'new_wechat_link';
  if (f.dayCount + 1 > c.maxDailyCount) return 'daily_count';
  if (f.dayFen + f.amountFen > c.maxDailyFen) return 'daily_amount';
  if (f.hourCount + 1 > c.maxPerHour) return 'velocity';
  return undefined;
}
