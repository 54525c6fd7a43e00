// The collector process: parses its config, runs the collector, stops it cleanly on SIGTERM/SIGINT.
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { handleShutdown } from '../common/shutdown.js';
import { createIngest } from './app.js';
import { ingestConfig } from './config.js';

const config = loadConfig(ingestConfig, process.env);
const log = createLogger('ingest', config.LOG_LEVEL);
const ingest = await createIngest(config, { log });
handleShutdown(ingest.parts, { log });
