// The WeChat Pay sandbox process (the default payout provider when no merchant credentials are set).
import { z } from 'zod';
import { loadConfig, port } from '../../common/config.js';
import { createLogger } from '../../common/log.js';
import { handleShutdown } from '../../common/shutdown.js';
import { startSandbox } from './server.js';

const config = loadConfig(z.object({
  SANDBOX_HOST: z.string().default('127.0.0.1'),
  SANDBOX_PORT: port(8090),
  SANDBOX_APPID: z.string().min(1).default('wxd0000000sandbox'),
  SANDBOX_APP_SECRET: z.string().min(1).default('sandbox-app-secret'),
  SANDBOX_SEED: z.string().min(1).default('sandbox-seed'),
  LOG_LEVEL: z.string().default('info'),
}), process.env);
const log = createLogger('wechat-sandbox', config.LOG_LEVEL);
const sandbox = await startSandbox({ host: config.SANDBOX_HOST, port: config.SANDBOX_PORT, appid: config.SANDBOX_APPID, appSecret: config.SANDBOX_APP_SECRET, seed: config.SANDBOX_SEED }, { log, now: Date.now });
handleShutdown([{ name: 'sandbox', stop: sandbox.stop }], { log });
