// Test entry point: a rewards service that SIGKILLs itself the CRASH_AFTER-th time it reaches step
// CRASH_AT (posted, committed), as a crash would. Used by faults.int.test.ts.
import { exitOnPublishedSecrets, loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { crashOnStep, handleShutdown } from '../common/shutdown.js';
import { createRewards } from './app.js';
import { rewardsConfig, rewardsSecretRule } from './config.js';

const config = loadConfig(rewardsConfig, process.env);
const log = createLogger('rewards', config.LOG_LEVEL);
exitOnPublishedSecrets(config, rewardsSecretRule(config), log);
const rewards = await createRewards(config, { log, onStep: crashOnStep(process.env) });
handleShutdown(rewards.parts, { log, failed: rewards.failed });
