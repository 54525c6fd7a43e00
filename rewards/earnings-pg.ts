// Posts a batch of verified earnings in one unit of work: lock what the batch could overdraw (the
// campaign budgets) and the balances the threshold reads (linked users'), skip earnings already
// recorded (a replay), decide the rest, trigger threshold payouts, and write transfers, earning
// records and payout requests together. The batch's earnings are paid by one ledger transaction
// (earnings.ts `batchTransfer`). Batching is the answer to the hot campaign budget: its row is
// locked, updated and posted to once per batch, not once per earning; and the other users' balances,
// which an earning only adds to, are never locked at all, only updated.
import type pg from 'pg';
import { loadSql } from '../common/sql.js';
import { batchTransfer, decideEarnings, dailyKey, capDay, type Earning, type EarningRecord, type RewardRule } from './earnings.js';
import { fen, planTransfers, type Fen } from './ledger.js';
import type { PgLedger } from './ledger-pg.js';
import { payoutTransfer, thresholdRequests, userAccount, type PayoutRequest } from './payout-requests.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'rules-for', 'known-earnings', 'daily-totals', 'linked-users', 'insert-earnings', 'insert-payouts',
] as const);

interface RuleRow {
  campaign_id: string; effective_from_ms: string; currency: string; reward_complete_fen: string; conversion_fen: string;
  user_daily_cap_fen: string | null; fee_bps: number;
}

async function loadRules(db: pg.ClientBase, campaignIds: string[]): Promise<Map<string, RewardRule[]>> {
  const rules = new Map<string, RewardRule[]>();
  for (const r of (await db.query<RuleRow>(sql['rules-for'], [campaignIds])).rows) {
    const list = rules.get(r.campaign_id) ?? [];
    list.push({
      campaignId: r.campaign_id, effectiveFrom: Number(r.effective_from_ms), currency: r.currency,
      rewardCompleteFen: fen(r.reward_complete_fen), conversionFen: fen(r.conversion_fen),
      userDailyCapFen: r.user_daily_cap_fen === null ? null : fen(r.user_daily_cap_fen), feeBps: r.fee_bps,
    });
    rules.set(r.campaign_id, list);
  }
  return rules;
}

export async function insertPayouts(db: pg.ClientBase, payouts: PayoutRequest[]): Promise<void> {
  if (payouts.length === 0) return;
  await db.query(sql['insert-payouts'], [
    payouts.map((p) => p.payoutId), payouts.map((p) => p.userId), payouts.map((p) => p.amountFen.toString()),
    payouts.map((p) => p.currency), payouts.map((p) => p.source), payouts.map((p) => p.idempotencyKey),
  ]);
}

async function insertEarnings(db: pg.ClientBase, records: EarningRecord[], transactionId: string | undefined): Promise<void> {
  if (records.length === 0) return;
  const col = <T>(f: (r: EarningRecord) => T) => records.map(f);
  await db.query(sql['insert-earnings'], [
    col((r) => r.earning.earningId), col((r) => r.earning.sourceEventId), col((r) => r.earning.appId), col((r) => r.earning.userId),
    col((r) => r.earning.campaignId), col((r) => r.earning.type), col((r) => r.earning.eventTime), col((r) => r.earning.verifiedAt),
    col((r) => r.day), col((r) => r.outcome.status), col((r) => (r.outcome.status === 'refused' ? r.outcome.reason : '')),
    col((r) => r.amountFen.toString()), col((r) => r.feeFen.toString()),
    col((r) => (r.outcome.status === 'posted' ? transactionId! : null)),
  ]);
}

export interface PostedBatch { records: EarningRecord[]; payouts: PayoutRequest[]; replayed: number }

export function createEarningsPoster(config: { thresholdFen: Fen; currency: string }, deps: { ledger: PgLedger; onContention?(): void }) {
  /**
   * The platform's fee account, which every batch credits, is changed last, so concurrent batches
   * hold its row lock only from that update to their commit. With `budgetsLocked` false (the first
   * try), the budgets too are read, not locked, and debited last. If a concurrent batch took what
   * this one needed, the update fails and the batch runs again with the budgets locked up front.
   */
  const attempt = (batch: Earning[], budgetsLocked: boolean) => deps.ledger.unitOfWork(async (tx): Promise<PostedBatch> => {
    const unique = [...new Map(batch.map((e) => [e.earningId, e])).values()];
    const rules = await loadRules(tx.db, [...new Set(unique.map((e) => e.campaignId))]);
    const currencies = (e: Earning) => new Set(rules.get(e.campaignId)?.map((r) => r.currency) ?? [config.currency]);
    const capped = (e: Earning) => rules.get(e.campaignId)?.some((r) => r.userDailyCapFen !== null) ?? false;
    const linked = new Set((await tx.db.query<{ user_id: string }>(sql['linked-users'], [[...new Set(unique.map((e) => e.userId))]])).rows.map((r) => r.user_id));
    const budgetRefs = unique.flatMap((e) => [...currencies(e)].map((currency) => ({ type: 'campaign_budget' as const, owner: e.campaignId, currency })));
    const revenueRefs = [...new Set(budgetRefs.map((r) => r.currency))].map((currency) => ({ type: 'platform_revenue' as const, owner: '', currency }));
    // Locked: what the threshold reads (linked users' balances) and, for the daily cap, the users it counts.
    const accounts = await tx.lock([
      ...(budgetsLocked ? budgetRefs : []),
      ...[...linked].flatMap((u) => [userAccount('user_available', u, config.currency), userAccount('user_held', u, config.currency)]),
      ...unique.filter(capped).map((e) => userAccount('user_available', e.userId, config.currency)),
    ]);
    const late = await tx.read(budgetsLocked ? revenueRefs : [...budgetRefs, ...revenueRefs]);
    for (const [key, account] of late) accounts.set(key, account);
    // Read after locking: a concurrent poster of the same earnings has committed by now.
    const known = new Set((await tx.db.query<{ source_event_id: string }>(sql['known-earnings'], [unique.map((e) => e.sourceEventId)])).rows.map((r) => r.source_event_id));
    const fresh = unique.filter((e) => !known.has(e.sourceEventId));
    const counted = fresh.filter(capped);
    const totals = counted.length === 0 ? [] : (await tx.db.query<{ user_id: string; campaign_id: string; day: string; total_fen: string }>(sql['daily-totals'], [
      counted.map((e) => e.userId), counted.map((e) => e.campaignId), counted.map((e) => capDay(e.eventTime)),
    ])).rows;
    const daily = new Map(totals.map((r) => [dailyKey(r.user_id, r.campaign_id, r.day), BigInt(r.total_fen)]));

    const records = decideEarnings(fresh, { rules: (c) => rules.get(c) ?? [], accounts, daily });
    const paid = batchTransfer(records);
    // Applied to the accounts, so the threshold sees the balances the earnings leave.
    if (paid && planTransfers([paid], { accounts, existing: new Map() })[0]!.status !== 'created') {
      throw new Error('a batch of earnings was refused, though decided against the balances it posts to');
    }
    const paidUsers = records.filter((r) => r.outcome.status === 'posted').map((r) => r.earning.userId);
    const payouts = thresholdRequests(paidUsers, { accounts, linked, thresholdFen: config.thresholdFen, currency: config.currency });
    const holds = payouts.map((p) => payoutTransfer(p, 'hold'));
    if (planTransfers(holds, { accounts, existing: new Map() }).some((r) => r.status !== 'created')) {
      throw new Error('a threshold hold was refused, though computed from the balance it holds');
    }

    await tx.write([...(paid ? [paid] : []), ...holds], late, async (ids) => {
      await insertEarnings(tx.db, records, paid && ids.get(paid.key));
      await insertPayouts(tx.db, payouts);
    });
    return { records, payouts, replayed: batch.length - fresh.length };
  });

  return async function postEarnings(batch: Earning[]): Promise<PostedBatch> {
    try {
      return await attempt(batch, false);
    } catch (err) {
      if ((err as { code?: string }).code !== '23514') throw err;
      deps.onContention?.();
      return attempt(batch, true);
    }
  };
}
