// Builds the top-up side of the payouts service from its config (app.ts wires it in): the pay-in client
// of PAYOUTS_TOPUP_API, the store, the flow, the API routes and the notifications. The caller gives
// what it shares: the pool, the v3 client, the transport, and the hand-off to rewards.
import type pg from 'pg';
import type { Logger } from '../../common/log.js';
import type { FundingOutcomeJob } from '../../schemas/queues.js';
import { topupNotifyUrls, type PayoutsConfig } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Transport } from '../wechat/transport.js';
import { createV2Client } from '../wechat/v2-client.js';
import type { V3Client } from '../wechat/v3-client.js';
import { createTopupRoutes } from './api.js';
import { createTopupFlow, type TopupStep } from './flow.js';
import { createTopupNotifications } from './notify.js';
import type { PayIn } from './pay-in.js';
import { createV2PayIn } from './pay-in-v2.js';
import { createV3PayIn } from './pay-in-v3.js';
import { createTopupStore } from './store-pg.js';

/** The pay-in client PAYOUTS_TOPUP_API names. */
export function createPayIn(config: PayoutsConfig, deps: { v3: V3Client; transport: Transport }): PayIn {
  if (config.PAYOUTS_TOPUP_API === 'v3')
    return createV3PayIn({ appid: config.WECHATPAY_APPID, mchid: config.WECHATPAY_MCHID }, { client: deps.v3 });
  const client = createV2Client(
    {
      mchid: config.WECHATPAY_MCHID,
      appid: config.WECHATPAY_APPID,
      apiKey: config.WECHATPAY_API_V2_KEY,
      signType: config.WECHATPAY_V2_SIGN_TYPE,
      transferSignType: config.WECHATPAY_V2_TRANSFER_SIGN_TYPE,
    },
    { transport: deps.transport },
  );
  return createV2PayIn({ appid: config.WECHATPAY_APPID, clientIp: '127.0.0.1' }, { client });
}

export function createTopups(
  config: PayoutsConfig,
  deps: {
    pool: pg.Pool;
    v3: V3Client;
    transport: Transport;
    metrics: Metrics;
    log: Logger;
    funding(job: FundingOutcomeJob): Promise<void>;
    onStep?(step: TopupStep): void;
  },
) {
  const payIn = createPayIn(config, deps);
  const store = createTopupStore({ pollMs: config.PAYOUTS_TOPUP_POLL_MS }, { pool: deps.pool });
  const flow = createTopupFlow(
    {
      merchant: { mchid: config.WECHATPAY_MCHID, appid: config.WECHATPAY_APPID },
      currency: 'CNY',
      description: config.PAYOUTS_TOPUP_DESCRIPTION,
      expiryMs: config.PAYOUTS_TOPUP_EXPIRY_MS,
      pollMs: config.PAYOUTS_TOPUP_POLL_MS,
      notifyUrls: topupNotifyUrls(config),
    },
    { store, payIn, log: deps.log, metrics: deps.metrics, funding: deps.funding, onStep: deps.onStep },
  );
  return {
    payIn,
    store,
    flow,
    routes: createTopupRoutes(
      { minFen: config.PAYOUTS_TOPUP_MIN_FEN, maxFen: config.PAYOUTS_TOPUP_MAX_FEN },
      { flow, store },
    ),
    notify: createTopupNotifications(
      { apiV2Key: config.WECHATPAY_API_V2_KEY, v2SignType: config.WECHATPAY_V2_SIGN_TYPE },
      {
        applyTrade: flow.applyTrade,
        applyRefund: flow.applyRefund,
        metrics: deps.metrics,
        log: deps.log,
      },
    ),
  };
}
export type Topups = ReturnType<typeof createTopups>;
