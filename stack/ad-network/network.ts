// The ad networks and advertisers of the simulation. Told that a user finished a rewarded ad, it
// sends the network's signed server-side verification callback to the collector (AdMob's ECDSA, or
// an HMAC network's); told that an advertiser saw a conversion, it sends the signed postback. Each
// by the plan the traffic chose: late, several times, or never (deliveries.ts).
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../../common/log.js';
import { signAdmobQuery, signNetworkQuery, signPostback } from '../../ingest/s2s-signing.js';
import { createDeliveries, defaultPlan, type RetryPolicy } from './deliveries.js';
import type { AdmobKey } from './keys.js';

/** AdMob's own ad source id, which its callbacks carry as `ad_network`. */
export const ADMOB_AD_NETWORK = '5450213213286189855';

const plan = z
  .object({
    delayMs: z.number().int().min(0).max(3_600_000).default(0),
    copies: z.number().int().min(1).max(10).default(1),
    drop: z.boolean().default(false),
  })
  .default(defaultPlan);
const name = z.string().regex(/^[a-z0-9_-]{1,32}$/);
const text = (max: number) => z.string().min(1).max(max);

export const rewardedInput = z.object({
  network: name,
  ad_unit: text(128).optional(),
  app_id: text(64).optional(),
  user_id: text(64),
  custom_data: text(256),
  reward_amount: z.number().int().min(0).default(1),
  reward_item: text(64).default('coins'),
  /** The network's id for this reward; a fresh one unless given (a test's second, different confirmation). */
  transaction_id: text(128).optional(),
  plan,
});
export const conversionInput = z
  .object({
    campaign_id: text(64),
    event_id: text(64).optional(),
    click_id: text(64).optional(),
    user_id: text(64),
    value_micros: z.number().int().min(0).optional(),
    currency: z.string().length(3).optional(),
    occurred_at: z.number().int().min(0),
    plan,
  })
  .refine((c) => (c.event_id === undefined) !== (c.click_id === undefined), {
    message: 'exactly one of event_id and click_id',
  });
export const secretsInput = z.object({
  networks: z.array(z.object({ network: name, app_id: text(64), secret: text(256) })).default([]),
  campaigns: z.array(z.object({ campaign_id: text(64), secret: text(256) })).default([]),
});
export type RewardedInput = z.input<typeof rewardedInput>;
export type ConversionInput = z.input<typeof conversionInput>;
export type Secrets = z.infer<typeof secretsInput>;

export type Answer =
  { ok: true; transaction_id?: string } | { ok: false; status: 400 | 422; error: string; message: string };

const problem = (error: z.ZodError): Answer => ({
  ok: false,
  status: 400,
  error: 'invalid_request',
  message: error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '),
});

export interface AdNetworkConfig {
  collectorUrl: string;
  admob: Pick<AdmobKey, 'keyId' | 'privateKey'>;
  retry: RetryPolicy;
  secrets?: Secrets;
}

export function createAdNetwork(
  config: AdNetworkConfig,
  deps: { fetch: typeof fetch; now(): number; log: Logger; onSecrets?(secrets: Secrets): void },
) {
  const deliveries = createDeliveries(config.retry, deps);
  const networkSecrets = new Map<string, string>();
  const campaignSecrets = new Map<string, string>();
  const ssvUrl = (network: string, query: string) => `${config.collectorUrl}/v1/ssv/${network}?${query}`;

  function learn(s: Secrets) {
    for (const n of s.networks) networkSecrets.set(`${n.network}/${n.app_id}`, n.secret);
    for (const c of s.campaigns) campaignSecrets.set(c.campaign_id, c.secret);
  }
  if (config.secrets) learn(config.secrets);
  const secrets = (): Secrets => ({
    networks: [...networkSecrets].map(([k, secret]) => {
      const [network, app_id] = k.split('/') as [string, string];
      return { network, app_id, secret };
    }),
    campaigns: [...campaignSecrets].map(([campaign_id, secret]) => ({ campaign_id, secret })),
  });

  return {
    /** The SDK reports a finished rewarded ad: the network's verification callback follows, by plan. */
    rewarded(input: unknown): Answer {
      const parsed = rewardedInput.safeParse(input);
      if (!parsed.success) return problem(parsed.error);
      const r = parsed.data;
      const transactionId = r.transaction_id ?? randomBytes(16).toString('hex');
      const common = { custom_data: r.custom_data, reward_amount: String(r.reward_amount), reward_item: r.reward_item };
      let sign: (timestamp: string) => string;
      // Every network names the ad unit the ad was shown in: the collector confirms for its app and campaign.
      if (!r.ad_unit)
        return { ok: false, status: 400, error: 'invalid_request', message: `${r.network} needs ad_unit` };
      const adUnit = r.ad_unit;
      if (r.network === 'admob') {
        // AdMob's parameter order; the signature covers the query string as sent.
        sign = (timestamp) =>
          signAdmobQuery(
            {
              ad_network: ADMOB_AD_NETWORK,
              ad_unit: adUnit,
              ...common,
              timestamp,
              transaction_id: transactionId,
              user_id: r.user_id,
            },
            config.admob,
          );
      } else {
        if (!r.app_id)
          return { ok: false, status: 400, error: 'invalid_request', message: `${r.network} needs app_id` };
        const secret = networkSecrets.get(`${r.network}/${r.app_id}`);
        if (!secret)
          return {
            ok: false,
            status: 422,
            error: 'unknown_secret',
            message: `no secret for network ${r.network} and app ${r.app_id}`,
          };
        const appId = r.app_id;
        sign = (timestamp) =>
          signNetworkQuery(
            {
              app_id: appId,
              ad_unit: adUnit,
              user_id: r.user_id,
              custom_data: r.custom_data,
              transaction_id: transactionId,
              reward_amount: common.reward_amount,
              reward_item: r.reward_item,
              timestamp,
            },
            secret,
          );
      }
      // Signed once, when first sent; retries and copies send the very same URL, as networks do.
      let url: string | undefined;
      deliveries.schedule(`ssv ${r.network} ${transactionId}`, r.plan, () => ({
        method: 'GET',
        url: (url ??= ssvUrl(r.network, sign(String(deps.now())))),
      }));
      return { ok: true, transaction_id: transactionId };
    },

    /** The advertiser's server saw a conversion: its postback follows, by plan. */
    conversion(input: unknown): Answer {
      const parsed = conversionInput.safeParse(input);
      if (!parsed.success) return problem(parsed.error);
      const c = parsed.data;
      const secret = campaignSecrets.get(c.campaign_id);
      if (!secret)
        return {
          ok: false,
          status: 422,
          error: 'unknown_secret',
          message: `no postback secret for campaign ${c.campaign_id}`,
        };
      const ref = c.event_id !== undefined ? { event_id: c.event_id } : { click_id: c.click_id! };
      const body = JSON.stringify({
        campaign_id: c.campaign_id,
        ...ref,
        user_id: c.user_id,
        ...(c.value_micros !== undefined ? { value_micros: c.value_micros } : {}),
        ...(c.currency ? { currency: c.currency } : {}),
        occurred_at: c.occurred_at,
      });
      const transactionId = `${c.campaign_id}:${c.event_id ?? c.click_id}`;
      // Signed at each send: the signature's t must be within 300 s of the collector's clock.
      deliveries.schedule(`postback ${transactionId}`, c.plan, () => ({
        method: 'POST',
        url: `${config.collectorUrl}/v1/postbacks`,
        body,
        headers: { 'content-type': 'application/json', 'postback-signature': signPostback(body, secret, deps.now()) },
      }));
      return { ok: true, transaction_id: transactionId };
    },

    /** Network secrets and campaign postback secrets (what `npm run apps -- network|campaign` printed). */
    setSecrets(input: unknown): Answer {
      const parsed = secretsInput.safeParse(input);
      if (!parsed.success) return problem(parsed.error);
      learn(parsed.data);
      deps.onSecrets?.(secrets());
      return { ok: true };
    },

    stats: deliveries.stats,
    idle: deliveries.idle,
    stop: deliveries.stop,
  };
}
export type AdNetwork = ReturnType<typeof createAdNetwork>;
