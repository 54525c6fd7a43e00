// The WeChat Pay sandbox process (the default payout provider when no merchant credentials are set).
import { join } from 'node:path';
import { z } from 'zod';
import { count, devModeEnv, devSecrets, exitOnPublishedSecrets, loadConfig, port } from '../../common/config.js';
import { createLogger } from '../../common/log.js';
import { handleShutdown } from '../../common/shutdown.js';
import { sandboxMerchant } from './defaults.js';
import { products, type Product } from './merchant.js';
import { startSandbox } from './server.js';

const config = loadConfig(
  z.object({
    SANDBOX_HOST: z.string().default('127.0.0.1'),
    SANDBOX_PORT: port(8090),
    SANDBOX_TLS_PORT: port(8091),
    SANDBOX_ADMIN_PORT: port(8092),
    SANDBOX_CERT_DIR: z.string().default(sandboxMerchant.certDir),
    SANDBOX_APPID: z.string().min(1).default(sandboxMerchant.appid),
    SANDBOX_APP_SECRET: z.string().min(1).default(devSecrets.WECHAT_APP_SECRET),
    SANDBOX_SEED: z.string().min(1).default('sandbox-seed'),
    SANDBOX_MCHID: z.string().min(1).default(sandboxMerchant.mchid),
    SANDBOX_API_V2_KEY: z.string().length(32).default(sandboxMerchant.apiV2Key),
    SANDBOX_API_V3_KEY: z.string().length(32).default(sandboxMerchant.apiV3Key),
    SANDBOX_SIGN_WITH: z.enum(['platform', 'public_key']).default('platform'),
    SANDBOX_BALANCE_FEN: count(100_000_000_00),
    SANDBOX_USER_DAILY_LIMIT_FEN: count(500_000),
    SANDBOX_TIME_SCALE: z.coerce.number().positive().max(1).default(0.001),
    SANDBOX_STEP_MS: count(1_000),
    SANDBOX_AUTO_CONFIRM_MS: z.coerce.number().int().min(-1).default(-1),
    SANDBOX_AUTO_CONFIRM_SHARE: z.coerce.number().min(0).max(1).default(1),
    SANDBOX_BILL_CLOSE_STATE: z.enum(['FAIL', 'CANCELLED']).default('FAIL'),
    SANDBOX_BILL_DEBIT_AT: z.enum(['wait', 'confirm']).default('wait'),
    SANDBOX_PRODUCTS: z
      .string()
      .default(products.join(','))
      .transform((s, ctx) => {
        const list = s
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean);
        for (const p of list)
          if (!products.includes(p as Product))
            ctx.addIssue({ code: 'custom', message: `SANDBOX_PRODUCTS: ${p} is not one of ${products.join(', ')}` });
        return list as Product[];
      }),
    SANDBOX_JOURNAL_FILE: z.string().default(join(sandboxMerchant.certDir, 'journal.jsonl')),
    SANDBOX_FEE_RATE: z.coerce.number().min(0).max(0.1).default(0.006),
    LOG_LEVEL: z.string().default('info'),
    ...devModeEnv,
  }),
  process.env,
);
const log = createLogger('wechat-sandbox', config.LOG_LEVEL);
// It serves the sandbox merchant's published keys: development only, unless given keys of its own.
exitOnPublishedSecrets(
  config,
  {
    devMode: config.DEV_MODE,
    published: {
      SANDBOX_APP_SECRET: devSecrets.WECHAT_APP_SECRET,
      SANDBOX_MCHID: sandboxMerchant.mchid,
      SANDBOX_API_V2_KEY: sandboxMerchant.apiV2Key,
      SANDBOX_API_V3_KEY: sandboxMerchant.apiV3Key,
    },
  },
  log,
);
const sandbox = await startSandbox(
  {
    host: config.SANDBOX_HOST,
    port: config.SANDBOX_PORT,
    tlsPort: config.SANDBOX_TLS_PORT,
    adminPort: config.SANDBOX_ADMIN_PORT,
    certDir: config.SANDBOX_CERT_DIR,
    seed: config.SANDBOX_SEED,
    appid: config.SANDBOX_APPID,
    appSecret: config.SANDBOX_APP_SECRET,
    mchid: config.SANDBOX_MCHID,
    apiV2Key: config.SANDBOX_API_V2_KEY,
    apiV3Key: config.SANDBOX_API_V3_KEY,
    signWith: config.SANDBOX_SIGN_WITH,
    balanceFen: config.SANDBOX_BALANCE_FEN,
    userDailyLimitFen: config.SANDBOX_USER_DAILY_LIMIT_FEN,
    timeScale: config.SANDBOX_TIME_SCALE,
    stepMs: config.SANDBOX_STEP_MS,
    autoConfirmMs: config.SANDBOX_AUTO_CONFIRM_MS,
    autoConfirmShare: config.SANDBOX_AUTO_CONFIRM_SHARE,
    journalFile: config.SANDBOX_JOURNAL_FILE,
    billCloseState: config.SANDBOX_BILL_CLOSE_STATE,
    billDebitAt: config.SANDBOX_BILL_DEBIT_AT,
    products: config.SANDBOX_PRODUCTS,
    feeRate: config.SANDBOX_FEE_RATE,
  },
  { log, now: Date.now },
);
handleShutdown([{ name: 'sandbox', stop: sandbox.stop }], { log });
