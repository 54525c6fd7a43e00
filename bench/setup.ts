// What every benchmark starts with: the repository root, the stack's settings, a quiet logger, and
// the local stack up with migrations applied.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { z } from 'zod';
import pg from 'pg';
import { loadConfig, stackEnv, withDatabase } from '../common/config.js';
import { root } from '../common/root.js';
import { createKafka } from '../common/kafka.js';
import { createProducer } from '../common/kafka-producer.js';
import { createLogger } from '../common/log.js';
import { ensureTopics, migratePostgres } from '../schemas/migrate.js';

export { root };
export const env = loadConfig(z.object(stackEnv), process.env);
export const log = createLogger('bench', 'warn');

export function stackUp(): void {
  execFileSync('bash', [join(root, 'stack/stack.sh'), 'up'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['--import', 'tsx', join(root, 'stack/build.ts')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  }); // the services run compiled
  execFileSync(process.execPath, ['--import', 'tsx', join(root, 'schemas/migrate-main.ts')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/**
 * Kafka for a benchmark run: an admin and an idempotent producer, connected, and topics named for the
 * run (`bench.<name>.<run>`); `close` deletes those topics and disconnects.
 */
export async function benchKafka(run: string) {
  const kafka = createKafka({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'bench' }, { log });
  const admin = kafka.admin();
  await admin.connect();
  const producer = createProducer({ KAFKA_BROKERS: env.KAFKA_BROKERS, clientId: 'bench' }, { log });
  await producer.connect();
  const made: string[] = [];
  return {
    kafka,
    admin,
    producer,
    async newTopic(name: string, partitions = 6, configs?: Record<string, string>) {
      const topic = `bench.${name}.${run}`;
      await ensureTopics([{ name: topic, partitions, retentionMs: 3_600_000, key: 'user_id', value: '', configs }], {
        kafka,
        log,
      });
      made.push(topic);
      return topic;
    },
    async close() {
      await admin.deleteTopics({ topics: made });
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    },
  };
}

/** Earning-to-ledger latency of the earnings `where` selects: `verified_at` (set by the aggregator) to `recorded_at` (the posting transaction). */
export async function ledgerLatency(pool: pg.Pool, where: string, params: unknown[]) {
  const {
    rows: [r],
  } = await pool.query<{ n: number; p50: number; p99: number }>(
    `select count(*)::int as n,
    percentile_cont(0.5) within group (order by extract(epoch from recorded_at - verified_at) * 1000) as p50,
    percentile_cont(0.99) within group (order by extract(epoch from recorded_at - verified_at) * 1000) as p99
    from earnings where ${where}`,
    params,
  );
  return r!;
}

/** A migrated Postgres database of its own for a benchmark run, and a pool on it; `drop` removes both. */
export async function benchDatabase(name: string) {
  const database = `bench_${name}`;
  const url = withDatabase(env.DATABASE_URL, database);
  await migratePostgres({ DATABASE_URL: url }, { log, dir: join(root, 'schemas/migrations/postgres') });
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  return {
    url,
    pool,
    async drop() {
      await pool.end();
      const admin = new pg.Client({ connectionString: withDatabase(env.DATABASE_URL, 'postgres') });
      await admin.connect();
      await admin.query(`drop database "${database}" with (force)`);
      await admin.end();
    },
  };
}
