// Test entry point: an aggregator that SIGKILLs itself the CRASH_AFTER-th time it reaches step
// CRASH_AT (claimed, inserted, written, committed), as a crash would. Used by aggregator.int.test.ts.
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { crashOnStep, handleShutdown } from '../common/shutdown.js';
import { createAggregator } from './app.js';
import { aggregatorConfig } from './config.js';

const config = loadConfig(aggregatorConfig, process.env);
const log = createLogger('aggregator', config.LOG_LEVEL);
const aggregator = await createAggregator(config, { log, onStep: crashOnStep(process.env) });
handleShutdown(aggregator.parts, { log, failed: aggregator.failed });
