// The payouts service's configuration (README "Configuration"); keys are the env names. With no
// merchant credentials configured it talks to the local sandbox with the sandbox merchant's keys.
import { join, resolve, sep } from 'node:path';
import { z } from 'zod';
import { count, devSecrets, fenAmount, port, sharedSecrets, stackEnv, type SecretRule } from '../common/config.js';
import { TOKEN_MAX_TTL_S } from '../common/auth.js';
import { defaultHttpLimits } from '../common/http-limits.js';
import { sandboxMerchant } from './sandbox/defaults.js';

/**
 * The report entries WeChat requires per transfer scene (transfer_scene_report_infos): without them a
 * bill is refused with PARAM_ERROR "需传入转账场景报备信息". Scenes not listed here are the merchant's to know.
 */
export const sceneReportTypes: Record<string, string[]> = { 1000: ['活动名称', '奖励说明'] };
const reportInfo = z.object({ info_type: z.string().min(1), info_content: z.string().min(1).max(32) });
export type SceneReportInfo = z.infer<typeof reportInfo>;
const sceneReports = z.string().transform((s, ctx) => {
  try {
    return z.record(z.string(), z.array(reportInfo).min(1)).parse(JSON.parse(s));
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: `PAYOUTS_SCENE_REPORT_INFOS is not {"<scene id>": [{"info_type": .., "info_content": ..}]}: ${String(err).slice(0, 200)}`,
    });
    return z.NEVER;
  }
});

const files = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);
const dir = sandboxMerchant.certDir;
/** An amount in fen, at least 1, as Fen from here on. */

export const payoutsConfig = z
  .object({
    ...stackEnv,
    PAYOUTS_HOST: z.string().default('127.0.0.1'),
    PAYOUTS_PORT: port(8082),
    PAYOUTS_OPS_HOST: z.string().default('127.0.0.1'),
    PAYOUTS_OPS_PORT: port(9082),
    PAYOUTS_HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1).default(defaultHttpLimits.requestTimeoutMs),
    PAYOUTS_HTTP_KEEPALIVE_TIMEOUT_MS: z.coerce.number().int().min(1).default(defaultHttpLimits.keepAliveTimeoutMs),
    PAYOUTS_HTTP_IDLE_TIMEOUT_MS: z.coerce.number().int().min(1).default(defaultHttpLimits.idleTimeoutMs),
    PAYOUTS_HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(defaultHttpLimits.maxConnections),
    REWARDS_TOKEN_MAX_TTL_S: z.coerce.number().int().min(1).default(TOKEN_MAX_TTL_S),
    REWARDS_TOKEN_SECRETS_REFRESH_MS: z.coerce.number().int().min(100).default(5_000),
    PAYOUTS_API: z.enum(['v3_bill', 'v3_batch', 'v2_transfer']).default('v3_bill'),
    PAYOUTS_BILL_CONFIRM_MODE: z.enum(['page', 'authorized']).default('page'),
    PAYOUTS_PACKAGE_MAX_AGE_MS: z.coerce.number().int().min(1_000).default(3_600_000),
    PAYOUTS_BILL_WAIT_POLL_MS: z.coerce.number().int().min(50).default(3_600_000),
    PAYOUTS_PROVIDER_QPS: z.coerce.number().int().min(1).optional(),
    PAYOUTS_BATCH_MAX: z.coerce.number().int().min(1).max(1000).default(1000),
    PAYOUTS_BATCH_MAX_AGE_MS: count(30_000),
    PAYOUTS_TICK_MS: z.coerce.number().int().min(50).default(1_000),
    PAYOUTS_POLL_MS: z.coerce.number().int().min(50).default(60_000),
    PAYOUTS_SWEEP_MS: z.coerce.number().int().min(100).default(10_000),
    PAYOUTS_STALL_AFTER_FAILURES: z.coerce.number().int().min(1).default(5),
    PAYOUTS_QUEUE_PREFIX: z.string().default('bull'),
    PAYOUTS_REMARK: z.string().min(1).max(32).default('广告奖励提现'),
    PAYOUTS_SCENE_ID: z.string().default('1000'),
    PAYOUTS_SCENE_REPORT_INFOS: sceneReports.prefault(
      JSON.stringify({
        1000: [
          { info_type: '活动名称', info_content: '广告奖励' },
          { info_type: '奖励说明', info_content: '观看广告获得奖励' },
        ],
      }),
    ),
    PAYOUTS_NOTIFY_URL: z.string().default('https://127.0.0.1:8082/v1/wechat/notify'),
    PAYOUTS_MAX_DAILY_COUNT: z.coerce.number().int().min(1).default(10),
    PAYOUTS_MAX_DAILY_FEN: fenAmount(500_000),
    PAYOUTS_MAX_PER_HOUR: z.coerce.number().int().min(1).default(5),
    PAYOUTS_NEW_LINK_HOLD_MS: count(0),
    PAYOUTS_REAL_NAME_FEN: fenAmount(200_000),
    PAYOUTS_FRAUD_LOOKBACK_DAYS: z.coerce.number().int().min(0).default(7),
    PAYOUTS_OPERATOR_TOKEN: z.string().min(16).default(devSecrets.PAYOUTS_OPERATOR_TOKEN),
    // Money in (topups/): advertisers' top-up orders and the refunds of what ended campaigns left.
    PAYOUTS_TOPUP_API: z.enum(['v3', 'v2']).default('v3'),
    PAYOUTS_TOPUP_DESCRIPTION: z.string().min(1).max(127).default('广告预算充值'),
    /** How long an order takes payment (time_expire; a Native code_url lasts 2 h). */
    PAYOUTS_TOPUP_EXPIRY_MS: z.coerce.number().int().min(1_000).default(7_200_000),
    /** How often an open order or a refund in progress is asked about when no notification came. */
    PAYOUTS_TOPUP_POLL_MS: z.coerce.number().int().min(50).default(60_000),
    PAYOUTS_TOPUP_MIN_FEN: fenAmount(100),
    PAYOUTS_TOPUP_MAX_FEN: fenAmount(100_000_000),
    /** Where WeChat sends pay and refund notifications; the default follows PAYOUTS_TOPUP_API (topupNotifyUrls). */
    PAYOUTS_TOPUP_NOTIFY_URL: z.string().optional(),
    PAYOUTS_TOPUP_REFUND_NOTIFY_URL: z.string().optional(),
    ...sharedSecrets,
    WECHATPAY_BASE_URL: z.url().default('https://127.0.0.1:8091'),
    WECHATPAY_TIMEOUT_MS: count(10_000),
    WECHATPAY_MCHID: z.string().default(sandboxMerchant.mchid),
    WECHATPAY_APPID: z.string().default(sandboxMerchant.appid),
    WECHATPAY_API_V2_KEY: z.string().length(32).default(sandboxMerchant.apiV2Key),
    WECHATPAY_API_V3_KEY: z.string().length(32).default(sandboxMerchant.apiV3Key),
    WECHATPAY_V2_SIGN_TYPE: z.enum(['MD5', 'HMAC-SHA256']).default('HMAC-SHA256'),
    WECHATPAY_V2_TRANSFER_SIGN_TYPE: z.enum(['MD5', 'HMAC-SHA256']).default('MD5'),
    WECHATPAY_CERT_FILE: z.string().default(join(dir, 'apiclient_cert.pem')),
    WECHATPAY_KEY_FILE: z.string().default(join(dir, 'apiclient_key.pem')),
    WECHATPAY_P12_FILE: z.string().optional(),
    WECHATPAY_PLATFORM_CERT_FILES: files.default([join(dir, 'platform_cert.pem')]),
    WECHATPAY_PUBLIC_KEY_FILE: z.string().optional(),
    WECHATPAY_PUBLIC_KEY_ID: z
      .string()
      .regex(/^PUB_KEY_ID_/)
      .optional(),
    WECHATPAY_CA_FILE: z.string().default(join(dir, 'ca_cert.pem')),
    WECHATPAY_CA_REPLACES_ROOTS: z.stringbool().optional(),
  })
  .superRefine((c, ctx) => {
    const infos = c.PAYOUTS_SCENE_REPORT_INFOS[c.PAYOUTS_SCENE_ID] ?? [];
    const missing = (sceneReportTypes[c.PAYOUTS_SCENE_ID] ?? []).filter((t) => !infos.some((i) => i.info_type === t));
    if (c.PAYOUTS_API === 'v3_bill' && (infos.length === 0 || missing.length > 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['PAYOUTS_SCENE_REPORT_INFOS'],
        message: `PAYOUTS_SCENE_REPORT_INFOS has no ${missing.length > 0 ? missing.join(', ') : 'entries'} for scene ${c.PAYOUTS_SCENE_ID} (PAYOUTS_SCENE_ID); WeChat refuses its transfer bills without them`,
      });
    }
  });
export type PayoutsConfig = z.infer<typeof payoutsConfig>;

/** Whether the service runs against the sandbox merchant (no real credentials configured). */
export const isSandbox = (c: PayoutsConfig) => c.WECHATPAY_MCHID === sandboxMerchant.mchid;

/** Calls per second to WeChat, merchant-wide (bills: 100 QPS; batch queries: 50). */
export const providerQps = (c: PayoutsConfig) => c.PAYOUTS_PROVIDER_QPS ?? (c.PAYOUTS_API === 'v3_bill' ? 100 : 50);

/** Where pay and refund notifications go: v3 sends both to the payouts' callback path, v2 to XML paths beside it. */
export const topupNotifyUrls = (c: PayoutsConfig) => {
  const base = c.PAYOUTS_NOTIFY_URL;
  return {
    pay: c.PAYOUTS_TOPUP_NOTIFY_URL ?? (c.PAYOUTS_TOPUP_API === 'v3' ? base : `${base}/v2/pay`),
    refund: c.PAYOUTS_TOPUP_REFUND_NOTIFY_URL ?? (c.PAYOUTS_TOPUP_API === 'v3' ? base : `${base}/v2/refund`),
  };
};

/** The sandbox's CA stands in for the public roots; a real merchant's CA file is added to them. */
export const caReplacesRoots = (c: PayoutsConfig) => c.WECHATPAY_CA_REPLACES_ROOTS ?? isSandbox(c);

const inSandboxDir = (v: unknown) =>
  [v].flat().some((f) => typeof f === 'string' && f !== '' && resolve(f).startsWith(dir + sep));

/**
 * The published secrets payouts refuses outside development mode. The sandbox merchant's (its id,
 * keys, and any file of the sandbox's directory) work only against a loopback WECHATPAY_BASE_URL,
 * so a real merchant never runs with one of them filled in by default.
 */
export function payoutsSecretRule(c: PayoutsConfig): SecretRule {
  const sandbox = {
    WECHATPAY_MCHID: sandboxMerchant.mchid,
    WECHATPAY_API_V2_KEY: sandboxMerchant.apiV2Key,
    WECHATPAY_API_V3_KEY: sandboxMerchant.apiV3Key,
    // A .p12 replaces the PEM pair, whose defaults then go unread.
    WECHATPAY_CERT_FILE: (v: unknown) => !c.WECHATPAY_P12_FILE && inSandboxDir(v),
    WECHATPAY_KEY_FILE: (v: unknown) => !c.WECHATPAY_P12_FILE && inSandboxDir(v),
    WECHATPAY_P12_FILE: inSandboxDir,
    WECHATPAY_PLATFORM_CERT_FILES: inSandboxDir,
    WECHATPAY_PUBLIC_KEY_FILE: inSandboxDir,
    WECHATPAY_CA_FILE: inSandboxDir,
  };
  return {
    devMode: c.DEV_MODE,
    published: { ...devSecrets, ...sandbox },
    loopbackOnly: { urlKey: 'WECHATPAY_BASE_URL', keys: Object.keys(sandbox) },
  };
}
