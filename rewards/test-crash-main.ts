// Test entry point: a rewards service that SIGKILLs itself the CRASH_AFTER-th time it reaches step
// CRASH_AT (posted, committed), as a crash would. Used by faults.int.test.ts.
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { handleShutdown } from '../common/shutdown.js';
import { createRewards } from './app.js';
import { rewardsConfig } from './config.js';

const config = loadConfig(rewardsConfig, process.env);
const log = createLogger('rewards', config.LOG_LEVEL);
let reached = 0;
const rewards = await createRewards(config, {
  log,
  onStep(step) {
    if (step === process.env.CRASH_AT && ++reached >= Number(process.env.CRASH_AFTER ?? 1)) process.kill(process.pid, 'SIGKILL');
  },
});
handleShutdown(rewards.parts, { log });
