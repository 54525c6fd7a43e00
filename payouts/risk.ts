// Where forming puts a queued transfer (pure): held for review when a risk check fails (an operator
// approves or rejects it; an approved one is not held again), waiting for the payee's real name when
// WeChat requires one and the user has given none, else sent (named when the amount needs it).
import { fen, type Fen } from '../common/money.js';
import type { Api } from './providers/provider.js';

export interface RiskConfig {
  maxDailyCount: number;
  maxDailyFen: Fen;
  /** Payouts to a WeChat account linked more recently than this wait for review. */
  newLinkHoldMs: number;
  maxPerHour: number;
  /** At or above this amount WeChat requires the payee's real name (`user_name`); without one the payout waits for it. */
  realNameFen: Fen;
}

export interface RiskFacts {
  amountFen: Fen;
  linkedAtMs: number;
  /** The user's other payouts sent or being sent: in the last 24 h, and in the last hour. */
  dayCount: number;
  dayFen: Fen;
  hourCount: number;
  /** Why the aggregator flagged the user's traffic as invalid, if it did. */
  fraudReasons: readonly string[];
}

export type RiskReason = 'fraud_signals' | 'new_wechat_link' | 'daily_count' | 'daily_amount' | 'velocity';

export function reviewReason(c: RiskConfig, f: RiskFacts, nowMs: number): RiskReason | undefined {
  if (f.fraudReasons.length > 0) return 'fraud_signals';
  if (nowMs - f.linkedAtMs < c.newLinkHoldMs) return 'new_wechat_link';
  if (f.dayCount + 1 > c.maxDailyCount) return 'daily_count';
  if (f.dayFen + f.amountFen > c.maxDailyFen) return 'daily_amount';
  if (f.hourCount + 1 > c.maxPerHour) return 'velocity';
  return undefined;
}

/** The v3 batch API takes no name on a detail below 0.3 yuan (reference/wechatpay.md, December 2026 "Real name"). */
export const BATCH_NAME_MIN_FEN = fen(30);

/** Whether a transfer of `amountFen` carries the payee's real name on `api`. */
export const needsRealName = (c: Pick<RiskConfig, 'realNameFen'>, api: Api, amountFen: Fen) =>
  amountFen >= c.realNameFen && (api !== 'v3_batch' || amountFen >= BATCH_NAME_MIN_FEN);

/** `approved`: a person approved it in review; `hasName`: the person has given a real name (wechat_links.real_name_enc). */
export interface FormFacts extends RiskFacts {
  approved: boolean;
  hasName: boolean;
}
export type Placement = { to: 'review'; reason: RiskReason } | { to: 'awaiting_name' } | { to: 'send'; named: boolean };

/** The risk checks first (skipped once approved), so nobody is asked for a name on a payout a person must look at. */
export function placement(c: RiskConfig, api: Api, f: FormFacts, nowMs: number): Placement {
  const reason = f.approved ? undefined : reviewReason(c, f, nowMs);
  if (reason) return { to: 'review', reason };
  if (!needsRealName(c, api, f.amountFen)) return { to: 'send', named: false };
  return f.hasName ? { to: 'send', named: true } : { to: 'awaiting_name' };
}
