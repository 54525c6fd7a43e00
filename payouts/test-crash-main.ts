// Test entry point: a payouts service that SIGKILLs itself the CRASH_AFTER-th time it reaches step
// CRASH_AT (formed, called, recorded), as a crash would. Used by test/payouts.int.test.ts.
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { handleShutdown } from '../common/shutdown.js';
import { createPayouts } from './app.js';
import { payoutsConfig } from './config.js';

const config = loadConfig(payoutsConfig, process.env);
const log = createLogger('payouts', config.LOG_LEVEL);
let reached = 0;
const payouts = await createPayouts(config, {
  log,
  onStep(step) {
    if (step === process.env.CRASH_AT && ++reached >= Number(process.env.CRASH_AFTER ?? 1)) process.kill(process.pid, 'SIGKILL');
  },
});
handleShutdown(payouts.parts, { log });
