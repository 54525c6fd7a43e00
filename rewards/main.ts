// The rewards process: parses its config, runs the earnings consumer and the API, stops cleanly on
// SIGTERM/SIGINT.
import { devSecrets, loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { handleShutdown } from '../common/shutdown.js';
import { createRewards } from './app.js';
import { rewardsConfig } from './config.js';

const config = loadConfig(rewardsConfig, process.env);
const log = createLogger('rewards', config.LOG_LEVEL);
const insecure = Object.entries(devSecrets).filter(([key, value]) => config[key as keyof typeof devSecrets] === value).map(([key]) => key);
if (insecure.length > 0) log.warn({ keys: insecure }, 'development_secrets_in_use');
const rewards = await createRewards(config, { log });
handleShutdown(rewards.parts, { log, failed: rewards.failed });
