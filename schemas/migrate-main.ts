// `npm run migrate`: Postgres and ClickHouse migrations, then Kafka topics. Safe to run any time.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { loadConfig, stackEnv } from '../common/config.js';
import { createKafka } from '../common/kafka.js';
import { createLogger } from '../common/log.js';
import { ensureTopics, migrateClickhouse, migratePostgres } from './migrate.js';
import { allTopics } from './topics.js';

const config = loadConfig(z.object(stackEnv), process.env);
const log = createLogger('migrate', config.LOG_LEVEL);
const dir = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

const pgApplied = await migratePostgres(config, { log, dir: join(dir, 'postgres') });
const chApplied = await migrateClickhouse(config, { log, dir: join(dir, 'clickhouse') });
const created = await ensureTopics(allTopics, { kafka: createKafka({ ...config, clientId: 'migrate' }, { log }), log });
log.info({ postgres: pgApplied, clickhouse: chApplied, topics_created: created.length }, 'migrate_done');
