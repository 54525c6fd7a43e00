// The collector process: parses its config, runs the collector, stops it cleanly on SIGTERM/SIGINT.
import { devSecrets, exitOnPublishedSecrets, loadConfig } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { handleShutdown } from '../common/shutdown.js';
import { createIngest } from './app.js';
import { ingestConfig } from './config.js';

const config = loadConfig(ingestConfig, process.env);
const log = createLogger('ingest', config.LOG_LEVEL);
exitOnPublishedSecrets(config, { devMode: config.DEV_MODE, published: devSecrets }, log);
const ingest = await createIngest(config, { log });
handleShutdown(ingest.parts, { log });
