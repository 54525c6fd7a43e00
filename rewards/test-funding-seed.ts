// Test helper: the rows the payouts service writes for money in (topup_orders, topup_refunds), and an
// advertiser with its campaigns, seeded with SQL so rewards' side is tested on its own.
import type pg from 'pg';

export function fundingSeed(pool: pg.Pool) {
  return {
    /** Registers the advertiser and its campaigns (created if missing), ended `endedS` seconds ago (null: not ended). */
    async advertiser(advertiserId: string, campaignIds: string[], endedS: number | null = 60) {
      await pool.query('insert into advertisers (advertiser_id) values ($1) on conflict do nothing', [advertiserId]);
      for (const c of campaignIds) {
        await pool.query(
          `insert into campaign_funding (campaign_id, advertiser_id, ends_at) values ($1, $2, now() - make_interval(secs => $3))
          on conflict (campaign_id) do update set advertiser_id = $2, ends_at = excluded.ends_at`,
          [c, advertiserId, endedS ?? -86_400],
        );
      }
    },

    /** A top-up order in `state`, last changed `ageS` seconds ago (attention needs a reason; resolution credit makes it paid). */
    async order(
      no: string,
      o: {
        advertiserId: string;
        campaignId: string;
        amountFen: number;
        paidFen?: number;
        state: string;
        resolution?: string;
        ageS?: number;
      },
    ) {
      const paid = ['paid', 'attention'].includes(o.state);
      await pool.query(
        `insert into topup_orders (out_trade_no, advertiser_id, campaign_id, idempotency_key, amount_fen, currency, api, trade_type,
          description, expires_at, state, attention_reason, resolution, transaction_id, paid_fen, paid_at, updated_at)
        values ($1, $2, $3, $1, $4, 'CNY', 'v3', 'NATIVE', 'top-up', now() + interval '2 hours', $5, $6, $7, $8, $9, $10, now() - make_interval(secs => $11))`,
        [
          no,
          o.advertiserId,
          o.campaignId,
          o.amountFen,
          o.state,
          o.state === 'attention' ? 'paid_after_close' : null,
          o.resolution ?? null,
          paid ? `42${no}` : null,
          paid ? (o.paidFen ?? o.amountFen) : null,
          paid ? new Date() : null,
          o.ageS ?? 0,
        ],
      );
    },

    /** A part of campaign refund `refundId` (null: a whole-order refund) against order `outTradeNo`, in `state`. */
    async part(
      no: string,
      p: { outTradeNo: string; refundId: string | null; amountFen: number; state: string; ageS?: number },
    ) {
      await pool.query(
        `insert into topup_refunds (out_refund_no, out_trade_no, refund_id, amount_fen, state, updated_at)
        values ($1, $2, $3, $4, $5, now() - make_interval(secs => $6))`,
        [no, p.outTradeNo, p.refundId, p.amountFen, p.state, p.ageS ?? 0],
      );
    },

    /** Moves a part to `state`, as the payouts service does on WeChat's word. */
    movePart: (no: string, state: string) =>
      pool.query('update topup_refunds set state = $2, updated_at = now() where out_refund_no = $1', [no, state]),

    /** The balance of an account, 0 when it has none. */
    async balance(type: string, owner: string): Promise<number> {
      const { rows } = await pool.query<{ b: string }>(
        `select case when normal = 'credit' then credits - debits else debits - credits end as b
        from accounts where type = $1 and owner = $2 and currency = 'CNY'`,
        [type, owner],
      );
      return Number(rows[0]?.b ?? 0);
    },
  };
}
