// The aggregator process: parses its config, runs one group member, stops it cleanly on SIGTERM/SIGINT.
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { handleShutdown } from '../common/shutdown.js';
import { createAggregator } from './app.js';
import { aggregatorConfig } from './config.js';

const config = loadConfig(aggregatorConfig, process.env);
const log = createLogger('aggregator', config.LOG_LEVEL);
const aggregator = await createAggregator(config, { log });
handleShutdown(aggregator.parts, { log, failed: aggregator.failed });
