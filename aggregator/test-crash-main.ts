// Test entry point: an aggregator that SIGKILLs itself the CRASH_AFTER-th time it reaches step
// CRASH_AT (claimed, inserted, written, committed), as a crash would. Used by aggregator.int.test.ts.
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { handleShutdown } from '../common/shutdown.js';
import { createAggregator, type Step } from './app.js';
import { aggregatorConfig } from './config.js';

const config = loadConfig(aggregatorConfig, process.env);
const crashAt = process.env.CRASH_AT as Step;
const log = createLogger('aggregator', config.LOG_LEVEL);
let reached = 0;
const aggregator = await createAggregator(config, {
  log,
  onStep(step) {
    if (step === crashAt && ++reached >= Number(process.env.CRASH_AFTER ?? 1)) process.kill(process.pid, 'SIGKILL');
  },
});
handleShutdown(aggregator.parts, { log });
