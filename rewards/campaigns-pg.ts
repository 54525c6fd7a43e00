// What an advertiser (or the operator) reads of a campaign's money: its owner, end and balances,
// and one refund with its parts at WeChat. Read only; funding-pg.ts moves the money.
import type pg from 'pg';
import { loadSql } from '../common/sql.js';
import { campaignMoney, type CampaignMoney } from './funding-pg.js';

const sql = loadSql(new URL('./sql/', import.meta.url), ['campaign-view', 'refund-view'] as const);

export interface CampaignView {
  campaignId: string;
  advertiserId: string | null;
  endsAt: Date | null;
  money: CampaignMoney;
}
export interface RefundView {
  refundId: string;
  campaignId: string;
  advertiserId: string;
  amountFen: number;
  currency: string;
  reason: string;
  state: string;
  createdAt: Date;
  updatedAt: Date;
  settledFen: number;
  releasedFen: number;
  parts: { out_refund_no: string; out_trade_no: string; amount_fen: number; state: string; reason: string | null }[];
}

export function createCampaigns(config: { currency: string }, deps: { pool: pg.Pool }) {
  return {
    async campaign(campaignId: string): Promise<CampaignView | undefined> {
      const {
        rows: [c],
      } = await deps.pool.query<{ campaign_id: string; advertiser_id: string | null; ends_at: Date | null }>(
        sql['campaign-view'],
        [campaignId],
      );
      if (!c) return undefined;
      return {
        campaignId: c.campaign_id,
        advertiserId: c.advertiser_id,
        endsAt: c.ends_at,
        money: await campaignMoney(deps.pool, campaignId, config.currency),
      };
    },

    async refund(campaignId: string, refundId: string): Promise<RefundView | undefined> {
      const {
        rows: [r],
      } = await deps.pool.query<{
        refund_id: string;
        campaign_id: string;
        advertiser_id: string;
        amount_fen: string;
        currency: string;
        reason: string;
        state: string;
        created_at: Date;
        updated_at: Date;
        parts: RefundView['parts'];
        settled_fen: string;
        released_fen: string;
      }>(sql['refund-view'], [refundId, campaignId]);
      return (
        r && {
          refundId: r.refund_id,
          campaignId: r.campaign_id,
          advertiserId: r.advertiser_id,
          amountFen: Number(r.amount_fen),
          currency: r.currency,
          reason: r.reason,
          state: r.state,
          createdAt: r.created_at,
          updatedAt: r.updated_at,
          parts: r.parts,
          settledFen: Number(r.settled_fen),
          releasedFen: Number(r.released_fen),
        }
      );
    },
  };
}
export type Campaigns = ReturnType<typeof createCampaigns>;
