// The payouts process: parses its config, runs the workers and the API, stops cleanly on SIGTERM/SIGINT.
import { exitOnPublishedSecrets, loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { handleShutdown } from '../common/shutdown.js';
import { createPayouts } from './app.js';
import { isSandbox, payoutsConfig, payoutsSecretRule } from './config.js';
import { ensureSandboxCerts } from './sandbox/certs.js';
import { sandboxMerchant } from './sandbox/defaults.js';

const config = loadConfig(payoutsConfig, process.env);
const log = createLogger('payouts', config.LOG_LEVEL);
exitOnPublishedSecrets(config, payoutsSecretRule(config), log);
if (isSandbox(config)) {
  ensureSandboxCerts(sandboxMerchant.certDir, sandboxMerchant.mchid);
  log.warn({ baseUrl: config.WECHATPAY_BASE_URL }, 'sandbox_merchant_in_use');
}
const payouts = await createPayouts(config, { log });
handleShutdown(payouts.parts, { log });
