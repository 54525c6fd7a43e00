// Posts a batch of verified earnings in one unit of work: lock what the batch could overdraw (the
// campaign budgets), the balances the threshold reads (linked persons') and what the daily caps and
// limits count, skip earnings already recorded (a replay), decide the rest, trigger threshold
// payouts, and write transfers, earning records and payout requests together. The batch's earnings are paid by one ledger transaction
// (earnings.ts `batchTransfer`). Batching is the answer to the hot campaign budget: its row is
// locked, updated and posted to once per batch, not once per earning; and the other users' balances,
// which an earning only adds to, are never locked at all, only updated.
import { hash } from 'node:crypto';
import type pg from 'pg';
import { personKey } from '../common/person.js';
import { loadSql } from '../common/sql.js';
import { fen, type Fen } from '../common/money.js';
import {
  batchTransfer,
  capDay,
  dailyKey,
  decideEarnings,
  deviceDayKey,
  noLimits,
  personDayKey,
  type DailySums,
  type Earning,
  type EarningRecord,
  type MoneyRules,
  type RewardRule,
} from './earnings.js';
import { planTransfers } from './ledger.js';
import type { PgLedger } from './ledger-pg.js';
import { payoutTransfer, thresholdRequests, userAccount, type PayoutRequest } from './payout-requests.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'rules-for',
  'known-earnings',
  'daily-totals',
  'person-day-totals',
  'device-day-totals',
  'lock-devices',
  'linked-users',
  'insert-earnings',
  'insert-payouts',
] as const);

type RuleRow = { campaign_id: string; app_id: string | null } & (
  | {
      effective_from_ms: string;
      currency: string;
      reward_complete_fen: string;
      conversion_fen: string;
      user_daily_cap_fen: string | null;
      fee_bps: number;
    }
  | { effective_from_ms: null }
);

/** The campaigns' owning apps (null: unowned) and reward rules (every version). */
export async function loadCampaigns(db: pg.ClientBase, campaignIds: string[]) {
  const rules = new Map<string, RewardRule[]>();
  const apps = new Map<string, string | null>();
  for (const r of (await db.query<RuleRow>(sql['rules-for'], [campaignIds])).rows) {
    apps.set(r.campaign_id, r.app_id);
    if (r.effective_from_ms === null) continue;
    const list = rules.get(r.campaign_id) ?? [];
    list.push({
      campaignId: r.campaign_id,
      effectiveFrom: Number(r.effective_from_ms),
      currency: r.currency,
      rewardCompleteFen: fen(r.reward_complete_fen),
      conversionFen: fen(r.conversion_fen),
      userDailyCapFen: r.user_daily_cap_fen === null ? null : fen(r.user_daily_cap_fen),
      feeBps: r.fee_bps,
    });
    rules.set(r.campaign_id, list);
  }
  return { rules, apps };
}

/** An advisory-lock key per (app, device): the first 8 bytes of a SHA-256, as a signed bigint. */
const deviceLock = (appId: string, deviceId: string) =>
  hash('sha256', JSON.stringify([appId, deviceId]), 'buffer')
    .readBigInt64BE(0)
    .toString();

/**
 * The posted sums `fresh` earnings are counted against: per person and campaign for capped campaigns,
 * per person and per device of an app when the platform limits are set. Read after the locks.
 */
async function dailySums(
  db: pg.ClientBase,
  fresh: Earning[],
  capped: (e: Earning) => boolean,
  money: MoneyRules,
): Promise<DailySums> {
  const day = (e: Earning) => capDay(e.verifiedAt, money.timezoneOffsetMs);
  const counted = fresh.filter(capped);
  const totals =
    counted.length === 0
      ? []
      : (
          await db.query<{ user_id: string; campaign_id: string; day: string; total_fen: string }>(
            sql['daily-totals'],
            [counted.map(personKey), counted.map((e) => e.campaignId), counted.map(day)],
          )
        ).rows;
  const persons =
    money.userDailyLimitFen === null || fresh.length === 0
      ? []
      : (
          await db.query<{ user_id: string; day: string; total_fen: string }>(sql['person-day-totals'], [
            fresh.map(personKey),
            fresh.map(day),
          ])
        ).rows;
  const withDevice = money.deviceDailyLimitFen === null ? [] : fresh.filter((e) => e.deviceId !== '');
  const devices =
    withDevice.length === 0
      ? []
      : (
          await db.query<{ app_id: string; device_id: string; day: string; total_fen: string }>(
            sql['device-day-totals'],
            [withDevice.map((e) => e.appId), withDevice.map((e) => e.deviceId), withDevice.map(day)],
          )
        ).rows;
  return {
    daily: new Map(totals.map((r) => [dailyKey(r.user_id, r.campaign_id, r.day), BigInt(r.total_fen)])),
    personDaily: new Map(persons.map((r) => [personDayKey(r.user_id, r.day), BigInt(r.total_fen)])),
    deviceDaily: new Map(devices.map((r) => [deviceDayKey(r.app_id, r.device_id, r.day), BigInt(r.total_fen)])),
  };
}

export async function insertPayouts(db: pg.ClientBase, payouts: PayoutRequest[]): Promise<void> {
  if (payouts.length === 0) return;
  await db.query(sql['insert-payouts'], [
    payouts.map((p) => p.payoutId),
    payouts.map((p) => p.person),
    payouts.map((p) => p.amountFen.toString()),
    payouts.map((p) => p.currency),
    payouts.map((p) => p.source),
    payouts.map((p) => p.idempotencyKey),
  ]);
}

async function insertEarnings(
  db: pg.ClientBase,
  records: EarningRecord[],
  transactionId: string | undefined,
): Promise<void> {
  if (records.length === 0) return;
  const col = <T>(f: (r: EarningRecord) => T) => records.map(f);
  await db.query(sql['insert-earnings'], [
    col((r) => r.earning.earningId),
    col((r) => r.earning.sourceEventId),
    col((r) => r.earning.appId),
    col((r) => personKey(r.earning)),
    col((r) => r.earning.campaignId),
    col((r) => r.earning.type),
    col((r) => r.earning.eventTime),
    col((r) => r.earning.verifiedAt),
    col((r) => r.day),
    col((r) => r.outcome.status),
    col((r) => (r.outcome.status === 'posted' ? '' : r.outcome.reason)),
    col((r) => r.amountFen.toString()),
    col((r) => r.feeFen.toString()),
    col((r) => (r.outcome.status === 'posted' ? transactionId! : null)),
    col((r) => r.earning.confirmation),
    col((r) => r.earning.deviceId),
    col((r) => r.earning.userFlags.join(' ')),
  ]);
}

export interface PostedBatch {
  records: EarningRecord[];
  payouts: PayoutRequest[];
  replayed: number;
}

export function createEarningsPoster(
  config: { thresholdFen: Fen; currency: string; money?: MoneyRules },
  deps: { ledger: PgLedger; onContention?(): void },
) {
  const money = config.money ?? noLimits;
  /**
   * The platform's fee account, which every batch credits, is changed last, so concurrent batches
   * hold its row lock only from that update to their commit. With `budgetsLocked` false (the first
   * try), the budgets too are read, not locked, and debited last. If a concurrent batch took what
   * this one needed, the update fails and the batch runs again with the budgets locked up front.
   */
  const attempt = (batch: Earning[], budgetsLocked: boolean) =>
    deps.ledger.unitOfWork(async (tx): Promise<PostedBatch> => {
      const unique = [...new Map(batch.map((e) => [e.earningId, e])).values()];
      const persons = new Map(unique.map((e) => [e.earningId, personKey(e)]));
      const person = (e: Earning) => persons.get(e.earningId)!;
      const { rules, apps } = await loadCampaigns(tx.db, [...new Set(unique.map((e) => e.campaignId))]);
      const currencies = (e: Earning) => new Set(rules.get(e.campaignId)?.map((r) => r.currency) ?? [config.currency]);
      const capped = (e: Earning) => rules.get(e.campaignId)?.some((r) => r.userDailyCapFen !== null) ?? false;
      const linked = new Set(
        (await tx.db.query<{ user_id: string }>(sql['linked-users'], [[...new Set(persons.values())]])).rows.map(
          (r) => r.user_id,
        ),
      );
      const budgetRefs = unique.flatMap((e) =>
        [...currencies(e)].map((currency) => ({ type: 'campaign_budget' as const, owner: e.campaignId, currency })),
      );
      const revenueRefs = [...new Set(budgetRefs.map((r) => r.currency))].map((currency) => ({
        type: 'platform_revenue' as const,
        owner: '',
        currency,
      }));
      // The device limit's sums have no account to lock: advisory locks per device stand in, taken
      // first (in key order), so they never wait behind a row lock held by a batch waiting for them.
      if (money.deviceDailyLimitFen !== null) {
        await tx.db.query(sql['lock-devices'], [
          [...new Set(unique.filter((e) => e.deviceId !== '').map((e) => deviceLock(e.appId, e.deviceId)))],
        ]);
      }
      // Locked: what the threshold reads (linked persons' balances) and, for the daily cap and the
      // user limit, the persons they count, so concurrent batches count one after the other.
      const counts = (e: Earning) => capped(e) || money.userDailyLimitFen !== null;
      const accounts = await tx.lock([
        ...(budgetsLocked ? budgetRefs : []),
        ...[...linked].flatMap((p) => [
          userAccount('user_available', p, config.currency),
          userAccount('user_held', p, config.currency),
        ]),
        ...unique.filter(counts).map((e) => userAccount('user_available', person(e), config.currency)),
      ]);
      const late = await tx.read(budgetsLocked ? revenueRefs : [...budgetRefs, ...revenueRefs]);
      for (const [key, account] of late) accounts.set(key, account);
      // Read after locking: a concurrent poster of the same earnings has committed by now.
      const known = new Set(
        (
          await tx.db.query<{ source_event_id: string }>(sql['known-earnings'], [unique.map((e) => e.sourceEventId)])
        ).rows.map((r) => r.source_event_id),
      );
      const fresh = unique.filter((e) => !known.has(e.sourceEventId));
      const sums = await dailySums(tx.db, fresh, capped, money);

      const records = decideEarnings(
        fresh,
        { ...sums, rules: (c) => rules.get(c) ?? [], campaignApp: (c) => apps.get(c), accounts },
        money,
      );
      const paid = batchTransfer(records);
      // Applied to the accounts, so the threshold sees the balances the earnings leave.
      if (paid && planTransfers([paid], { accounts, existing: new Map() })[0]!.status !== 'created') {
        throw new Error('a batch of earnings was refused, though decided against the balances it posts to');
      }
      const paidPersons = records.filter((r) => r.outcome.status === 'posted').map((r) => person(r.earning));
      const payouts = thresholdRequests(paidPersons, {
        accounts,
        linked,
        thresholdFen: config.thresholdFen,
        currency: config.currency,
      });
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
