// Test entry point: a payouts service that SIGKILLs itself the CRASH_AFTER-th time it reaches step
// CRASH_AT (formed, called, recorded), as a crash would. Used by test/payouts.int.test.ts.
import { exitOnPublishedSecrets, loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { crashOnStep, handleShutdown } from '../common/shutdown.js';
import { createPayouts } from './app.js';
import { payoutsConfig, payoutsSecretRule } from './config.js';

const config = loadConfig(payoutsConfig, process.env);
const log = createLogger('payouts', config.LOG_LEVEL);
exitOnPublishedSecrets(config, payoutsSecretRule(config), log);
const payouts = await createPayouts(config, { log, onStep: crashOnStep(process.env) });
handleShutdown(payouts.parts, { log });
