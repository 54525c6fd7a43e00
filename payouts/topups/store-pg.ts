// Top-up orders and refund parts in Postgres (topup_orders, topup_refunds; migration 0014), one
// statement each (sql/). Numbers are committed before the call that carries them, and every move is
// guarded by the state it starts from. The ledger is rewards': only read here, by its keys.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { fen, type Fen } from '../../common/money.js';
import { loadSql } from '../../common/sql.js';
import type { PayInApi, TradeType } from './pay-in.js';
import type { AttentionReason, OrderState, PartState } from './states.js';
import { idempotencyKey } from '../../common/idempotency-key.js';

const sql = loadSql(new URL('./sql/', import.meta.url), [
  'create-order',
  'order-by-key',
  'order',
  'record-open',
  'move-order',
  'refuse-order',
  'mark-closing',
  'close-unsent',
  'claim-due-orders',
  'uncredited-orders',
  'resolve-order',
  'insert-whole-refund',
  'campaign-owner',
  'order-view',
  'list-orders',
  'lock-campaign-refunds',
  'split-refund',
  'refund-parts',
  'move-part',
  'claim-due-parts',
  'unsettled-parts',
  'unsplit-refunds',
] as const);

interface OrderRow {
  out_trade_no: string;
  advertiser_id: string;
  campaign_id: string;
  idempotency_key: string;
  amount_fen: string;
  currency: string;
  api: PayInApi;
  trade_type: TradeType;
  payer_openid: string | null;
  description: string;
  expires_at: Date;
  state: OrderState;
  provider_state: string | null;
  code_url: string | null;
  prepay_id: string | null;
  transaction_id: string | null;
  paid_fen: string | null;
  paid_at: Date | null;
  attention_reason: AttentionReason | null;
  resolution: 'credit' | 'refund' | null;
  created_at: Date;
  updated_at: Date;
}
export interface Order {
  outTradeNo: string;
  advertiserId: string;
  campaignId: string;
  idempotencyKey: string;
  amountFen: Fen;
  currency: string;
  api: PayInApi;
  tradeType: TradeType;
  payerOpenid: string | null;
  description: string;
  expiresAt: Date;
  state: OrderState;
  providerState: string | null;
  codeUrl: string | null;
  prepayId: string | null;
  transactionId: string | null;
  paidFen: Fen | null;
  paidAt: Date | null;
  attentionReason: AttentionReason | null;
  resolution: 'credit' | 'refund' | null;
  createdAt: Date;
}
const orderOf = (r: OrderRow): Order => ({
  outTradeNo: r.out_trade_no,
  advertiserId: r.advertiser_id,
  campaignId: r.campaign_id,
  idempotencyKey: r.idempotency_key,
  amountFen: fen(r.amount_fen),
  currency: r.currency,
  api: r.api,
  tradeType: r.trade_type,
  payerOpenid: r.payer_openid,
  description: r.description,
  expiresAt: r.expires_at,
  state: r.state,
  providerState: r.provider_state,
  codeUrl: r.code_url,
  prepayId: r.prepay_id,
  transactionId: r.transaction_id,
  paidFen: r.paid_fen === null ? null : fen(r.paid_fen),
  paidAt: r.paid_at,
  attentionReason: r.attention_reason,
  resolution: r.resolution,
  createdAt: r.created_at,
});

/**
 * A refund part as its call sends it: `totalFen` is the order's total as WeChat has it, `reason` the
 * campaign refund's (sent to WeChat); `stateReason` is why the part is failed or in attention.
 */
export interface Part {
  outRefundNo: string;
  outTradeNo: string;
  refundId: string | null;
  amountFen: Fen;
  state: PartState;
  providerState: string | null;
  stateReason: string | null;
  totalFen: Fen;
  reason: string;
}
interface PartRow {
  out_refund_no: string;
  out_trade_no: string;
  refund_id: string | null;
  amount_fen: string;
  state: PartState;
  provider_state: string | null;
  state_reason: string | null;
  total_fen: string;
  refund_reason: string;
}
const partOf = (r: PartRow): Part => ({
  outRefundNo: r.out_refund_no,
  outTradeNo: r.out_trade_no,
  refundId: r.refund_id,
  amountFen: fen(r.amount_fen),
  state: r.state,
  providerState: r.provider_state,
  stateReason: r.state_reason,
  totalFen: fen(r.total_fen),
  reason: r.refund_reason,
});

/** What a create asks for; `advertiserId` undefined: the operator, for whichever advertiser owns the campaign. */
export interface NewOrder {
  campaignId: string;
  advertiserId?: string;
  idempotencyKey: string;
  amountFen: Fen;
  currency: string;
  api: PayInApi;
  tradeType: TradeType;
  payerOpenid?: string;
  description: string;
  expiryMs: number;
}
export type CreateResult = { status: 'not_found' } | { status: 'created' | 'exists'; order: Order };

/** The ledger key of (kind, number) around the number: [before, after] (a number here never needs JSON escaping). */
function keyAround(kind: string): [string, string] {
  const mark = '<no>'; // printable: JSON keeps it as it is
  const [before, after] = idempotencyKey(kind, mark).split(mark) as [string, string];
  return [before, after];
}
const CREDIT_KEY = keyAround('topup');
const SETTLE_KEY = keyAround('refund_settle');
const RELEASE_KEY = keyAround('refund_release');

/** How often WeChat is asked again about an ABNORMAL refund part: only a person changes it, so at most hourly. */
export const ABNORMAL_POLL_MS = 3_600_000;

/** The number of a person's whole-order refund of order `outTradeNo` (resolved 'refund'). */
export const wholeRefundNo = (outTradeNo: string) => `R${outTradeNo}`;

export function createTopupStore(config: { pollMs: number }, deps: { pool: pg.Pool }) {
  const { pool } = deps;
  const one = async (name: keyof typeof sql, params: unknown[]) =>
    (await pool.query<OrderRow>(sql[name], params)).rows.map(orderOf)[0];
  /** In one transaction; rolled back on any throw. */
  async function inTransaction<T>(work: (db: pg.PoolClient) => Promise<T>): Promise<T> {
    const db = await pool.connect();
    try {
      await db.query('begin');
      const out = await work(db);
      await db.query('commit');
      return out;
    } catch (err) {
      await db.query('rollback').catch(() => {});
      throw err;
    } finally {
      db.release();
    }
  }

  return {
    /** A fresh order (a new 32-hex number), or the one the campaign's owner made before under the same key. */
    async createOrder(o: NewOrder): Promise<CreateResult> {
      const no = randomBytes(16).toString('hex');
      const { rows } = await pool.query<OrderRow & { fresh: boolean }>(sql['create-order'], [
        no,
        o.campaignId,
        o.advertiserId ?? null,
        o.idempotencyKey,
        o.amountFen,
        o.currency,
        o.api,
        o.tradeType,
        o.payerOpenid ?? null,
        o.description,
        o.expiryMs,
        config.pollMs,
      ]);
      // Nothing: no such campaign (or not this advertiser's), or a concurrent create took the key first.
      const row =
        rows[0] ??
        (
          await pool.query<OrderRow & { fresh: boolean }>(sql['order-by-key'], [
            o.campaignId,
            o.idempotencyKey,
            o.advertiserId ?? null,
          ])
        ).rows[0];
      return row ? { status: row.fresh ? 'created' : 'exists', order: orderOf(row) } : { status: 'not_found' };
    },
    order: (no: string) => one('order', [no]),
    /** WeChat's answer to the create: open with its code_url or prepay_id; undefined when it had moved on. */
    recordOpen: (no: string, checkout: { codeUrl?: string; prepayId?: string }) =>
      one('record-open', [no, checkout.codeUrl ?? '', checkout.prepayId ?? '', config.pollMs]),
    /** Moves order `no` from `from` (as read) to `to`; false when another worker moved it first. */
    async moveOrder(
      no: string,
      from: OrderState,
      to: OrderState,
      f: { reason?: AttentionReason; providerState?: string; transactionId?: string; paidFen?: Fen; paidAt?: Date },
    ): Promise<boolean> {
      const { rowCount } = await pool.query(sql['move-order'], [
        no,
        from,
        to,
        f.reason ?? null,
        f.providerState ?? null,
        f.transactionId ?? null,
        f.paidFen ?? null,
        f.paidAt ?? null,
      ]);
      return (rowCount ?? 0) > 0;
    },
    refuseOrder: async (no: string, code: string) =>
      ((await pool.query(sql['refuse-order'], [no, code])).rowCount ?? 0) > 0,
    markClosing: async (no: string) => ((await pool.query(sql['mark-closing'], [no, config.pollMs])).rowCount ?? 0) > 0,
    closeUnsent: async (no: string, code: string) =>
      ((await pool.query(sql['close-unsent'], [no, code])).rowCount ?? 0) > 0,
    /** Orders due a look (their next one moved on as they are taken), and whether each is past its expiry. */
    async claimDueOrders(limit: number): Promise<{ outTradeNo: string; state: OrderState; expired: boolean }[]> {
      const { rows } = await pool.query<{ out_trade_no: string; state: OrderState; expired: boolean }>(
        sql['claim-due-orders'],
        [config.pollMs, limit],
      );
      return rows.map((r) => ({ outTradeNo: r.out_trade_no, state: r.state, expired: r.expired }));
    },
    /** Paid orders the ledger has not credited yet. */
    uncreditedOrders: async (limit: number) =>
      (await pool.query<{ out_trade_no: string }>(sql['uncredited-orders'], [...CREDIT_KEY, limit])).rows.map(
        (r) => r.out_trade_no,
      ),

    /** A person's decision on an order in attention (once); for 'refund', its whole-order refund part is committed with it. */
    resolve: (no: string, decision: 'credit' | 'refund') =>
      inTransaction(async (db) => {
        const row = (await db.query<OrderRow>(sql['resolve-order'], [no, decision])).rows[0];
        if (row && decision === 'refund')
          await db.query(sql['insert-whole-refund'], [no, wholeRefundNo(no), config.pollMs]);
        return row && orderOf(row);
      }),

    /** Campaign `campaignId`'s advertiser: undefined when none is bound (or there is no such campaign). */
    campaignOwner: async (campaignId: string): Promise<string | undefined> =>
      (await pool.query<{ advertiser_id: string }>(sql['campaign-owner'], [campaignId])).rows[0]?.advertiser_id,
    /** Order `no` with its refunds, as stored. */
    async view(no: string): Promise<(Order & { refunds: Record<string, unknown>[] }) | undefined> {
      const row = (await pool.query<OrderRow & { refunds: Record<string, unknown>[] }>(sql['order-view'], [no]))
        .rows[0];
      return row && { ...orderOf(row), refunds: row.refunds.map((r) => ({ ...r, amount_fen: Number(r.amount_fen) })) };
    },
    list: async (filter: { campaignId?: string; advertiserId?: string }, limit: number) =>
      (
        await pool.query<OrderRow>(sql['list-orders'], [filter.campaignId ?? null, filter.advertiserId ?? null, limit])
      ).rows.map(orderOf),

    /**
     * Campaign refund `refundId` split into parts (once: a repeat returns the parts there are), under a
     * lock on its campaign's refunds. Undefined when there is no such refund.
     */
    splitRefund: (refundId: string) =>
      inTransaction(async (db) => {
        const refund = (await db.query<{ amount_fen: string }>(sql['lock-campaign-refunds'], [refundId])).rows[0];
        if (!refund) return undefined;
        await db.query(sql['split-refund'], [refundId, config.pollMs]);
        const parts = (await db.query<PartRow>(sql['refund-parts'], [refundId, null])).rows.map(partOf);
        return { amountFen: fen(refund.amount_fen), parts };
      }),
    part: async (outRefundNo: string) =>
      (await pool.query<PartRow>(sql['refund-parts'], [null, outRefundNo])).rows.map(partOf)[0],
    /** Moves part `no` from `from` (as read) to `to`; false when another worker moved it first. */
    async movePart(
      no: string,
      from: PartState,
      to: PartState,
      f: { providerState?: string; wechatRefundId?: string; reason?: string; succeededAt?: Date },
    ): Promise<boolean> {
      const { rowCount } = await pool.query(sql['move-part'], [
        no,
        from,
        to,
        f.providerState ?? null,
        f.wechatRefundId ?? null,
        f.reason ?? null,
        f.succeededAt ?? null,
        config.pollMs,
        ABNORMAL_POLL_MS,
      ]);
      return (rowCount ?? 0) > 0;
    },
    /** Parts due a look (in flight, or ABNORMAL ones hourly), their next one moved on as they are taken. */
    async claimDueParts(limit: number): Promise<{ outRefundNo: string; state: PartState }[]> {
      const { rows } = await pool.query<{ out_refund_no: string; state: PartState }>(sql['claim-due-parts'], [
        config.pollMs,
        limit,
        ABNORMAL_POLL_MS,
      ]);
      return rows.map((r) => ({ outRefundNo: r.out_refund_no, state: r.state }));
    },
    /** Final parts of campaign refunds whose outcome the ledger has not posted yet. */
    async unsettledParts(limit: number): Promise<{ outRefundNo: string; state: 'succeeded' | 'failed' }[]> {
      const { rows } = await pool.query<{ out_refund_no: string; state: 'succeeded' | 'failed' }>(
        sql['unsettled-parts'],
        [SETTLE_KEY[0], RELEASE_KEY[0], SETTLE_KEY[1], limit],
      );
      return rows.map((r) => ({ outRefundNo: r.out_refund_no, state: r.state }));
    },
    /** Campaign refunds requested `idleMs` ago or more and not split yet. */
    unsplitRefunds: async (idleMs: number, limit: number) =>
      (await pool.query<{ refund_id: string }>(sql['unsplit-refunds'], [idleMs, limit])).rows.map((r) => r.refund_id),
  };
}
export type TopupStore = ReturnType<typeof createTopupStore>;
