// Posts a batch of verified earnings in one unit of work: lock the accounts the batch touches, skip
// earnings already recorded (a replay), decide the rest, trigger threshold payouts, and write
// transfers, earning records and payout requests together. Batching is the answer to the hot
// campaign budget: its row is locked and updated once per batch, not once per earning.
import type pg from 'pg';
import { loadSql } from '../common/sql.js';
import { decideEarnings, earningAccounts, dailyKey, capDay, type Earning, type EarningRecord, type RewardRule } from './earnings.js';
import { fen, planTransfers, type Fen } from './ledger.js';
import { snapshot, type PgLedger } from './ledger-pg.js';
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

async function insertEarnings(db: pg.ClientBase, records: EarningRecord[], ids: Map<string, string>): Promise<void> {
  if (records.length === 0) return;
  const col = <T>(f: (r: EarningRecord) => T) => records.map(f);
  await db.query(sql['insert-earnings'], [
    col((r) => r.earning.earningId), col((r) => r.earning.sourceEventId), col((r) => r.earning.appId), col((r) => r.earning.userId),
    col((r) => r.earning.campaignId), col((r) => r.earning.type), col((r) => r.earning.eventTime), col((r) => r.earning.verifiedAt),
    col((r) => r.day), col((r) => r.outcome.status), col((r) => (r.outcome.status === 'refused' ? r.outcome.reason : '')),
    col((r) => r.amountFen.toString()), col((r) => r.feeFen.toString()),
    col((r) => (r.outcome.status === 'posted' ? ids.get(r.outcome.transfer.key)! : null)),
  ]);
}

export interface PostedBatch { records: EarningRecord[]; payouts: PayoutRequest[]; replayed: number }

export function createEarningsPoster(config: { thresholdFen: Fen; currency: string }, deps: { ledger: PgLedger }) {
  return async function postEarnings(batch: Earning[]): Promise<PostedBatch> {
    const unique = [...new Map(batch.map((e) => [e.earningId, e])).values()];
    return deps.ledger.unitOfWork(async (tx) => {
      const rules = await loadRules(tx.db, [...new Set(unique.map((e) => e.campaignId))]);
      const currencies = (e: Earning) => new Set(rules.get(e.campaignId)?.map((r) => r.currency) ?? [config.currency]);
      const users = [...new Set(unique.map((e) => e.userId))];
      const accounts = await tx.lock([
        ...unique.flatMap((e) => [...currencies(e)].flatMap((c) => earningAccounts(e, c))),
        ...users.flatMap((u) => [userAccount('user_available', u, config.currency), userAccount('user_held', u, config.currency)]),
      ]);
      // Read after locking: a concurrent poster of the same earnings has committed by now.
      const known = new Set((await tx.db.query<{ earning_id: string }>(sql['known-earnings'], [unique.map((e) => e.earningId)])).rows.map((r) => r.earning_id));
      const fresh = unique.filter((e) => !known.has(e.earningId));
      const days = fresh.map((e) => capDay(e.eventTime));
      const totals = await tx.db.query<{ user_id: string; campaign_id: string; day: string; total_fen: string }>(sql['daily-totals'], [
        fresh.map((e) => e.userId), fresh.map((e) => e.campaignId), days,
      ]);
      const daily = new Map(totals.rows.map((r) => [dailyKey(r.user_id, r.campaign_id, r.day), BigInt(r.total_fen)]));

      const before = snapshot(accounts);
      const records = decideEarnings(fresh, { rules: (c) => rules.get(c) ?? [], accounts, daily, existing: new Map() });
      const transfers = records.flatMap((r) => (r.outcome.status === 'posted' ? [r.outcome.transfer] : []));
      const paidUsers = records.filter((r) => r.outcome.status === 'posted').map((r) => r.earning.userId);
      const linked = paidUsers.length === 0 ? new Set<string>()
        : new Set((await tx.db.query<{ user_id: string }>(sql['linked-users'], [[...new Set(paidUsers)]])).rows.map((r) => r.user_id));
      const payouts = thresholdRequests(paidUsers, { accounts, linked, thresholdFen: config.thresholdFen, currency: config.currency });
      const holds = payouts.map((p) => payoutTransfer(p, 'hold'));
      if (planTransfers(holds, { accounts, existing: new Map() }).some((r) => r.status !== 'created')) {
        throw new Error('a threshold hold was refused, though computed from the balance it holds');
      }

      const ids = await tx.write([...transfers, ...holds], before, accounts);
      await insertEarnings(tx.db, records, ids);
      await insertPayouts(tx.db, payouts);
      return { records, payouts, replayed: batch.length - fresh.length };
    });
  };
}
