// The rewards process: parses its config, runs the earnings consumer and the API, stops cleanly on
// SIGTERM/SIGINT.
import { exitOnPublishedSecrets, loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { handleShutdown } from '../common/shutdown.js';
import { createRewards } from './app.js';
import { rewardsConfig, rewardsSecretRule } from './config.js';

const config = loadConfig(rewardsConfig, process.env);
const log = createLogger('rewards', config.LOG_LEVEL);
exitOnPublishedSecrets(config, rewardsSecretRule(config), log);
const rewards = await createRewards(config, { log });
handleShutdown(rewards.parts, { log, failed: rewards.failed });
