// Campaign settings from Postgres (attribution windows, owning app, verification window), in memory,
// reloaded on NOTIFY 'campaigns'.
import { createPgCache } from '../common/pg-cache.js';
import type { Logger } from '../common/log.js';
import { loadSql } from '../common/sql.js';
import { defaultCampaign, type CampaignSettings } from './attribution.js';

const sql = loadSql(new URL('./sql/', import.meta.url), ['list-campaigns'] as const);

interface Row {
  campaign_id: string;
  click_lookback_s: number;
  view_window_s: number;
  completion_window_s: number;
  min_click_to_conversion_s: number;
  app_id: string | null;
  verification_window_s: number;
}

export async function createCampaignSettings(
  config: { DATABASE_URL: string; refreshMs: number; verificationWindowMs: number },
  deps: { log: Logger },
) {
  const defaults: CampaignSettings = { ...defaultCampaign, verificationWindowMs: config.verificationWindowMs };
  const cache = await createPgCache(
    { DATABASE_URL: config.DATABASE_URL, channel: 'campaigns', refreshMs: config.refreshMs },
    {
      log: deps.log,
      async load(db) {
        const rows = (await db.query<Row>(sql['list-campaigns'])).rows;
        return new Map<string, CampaignSettings>(
          rows.map((r) => [
            r.campaign_id,
            {
              clickLookbackMs: r.click_lookback_s * 1000,
              viewWindowMs: r.view_window_s * 1000,
              completionWindowMs: r.completion_window_s * 1000,
              minClickToConversionMs: r.min_click_to_conversion_s * 1000,
              verificationWindowMs: r.verification_window_s * 1000,
              appId: r.app_id,
            },
          ]),
        );
      },
    },
  );
  return {
    settings: (campaignId: string): CampaignSettings => cache.value.get(campaignId) ?? defaults,
    stop: () => cache.stop(),
  };
}
