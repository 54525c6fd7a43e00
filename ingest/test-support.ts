// Integration-test harness: a collector built by createIngest against the real local stack, with
// its own test database (apps and keys migrated in), its own topic, and a fresh signing key.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../common/config.js';
import { createKafka } from '../common/kafka.js';
import { ensureTopics, migratePostgres } from '../schemas/migrate.js';
import { createTestPostgres, silentLog, uniqueName } from '../test/support.js';
import { createIngest } from './app.js';
import { ingestConfig } from './config.js';
import { keySql } from './keys-pg.js';

export async function startTestCollector(env: Record<string, string> = {}) {
  const db = await createTestPostgres('ingest');
  await migratePostgres({ DATABASE_URL: db.url }, { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/postgres') });
  const config = loadConfig(ingestConfig, {
    ...process.env, INGEST_PORT: '0', INGEST_DEVICE_REQUESTS_PER_S: '0', LOG_LEVEL: 'silent', ...env,
    DATABASE_URL: db.url, INGEST_TOPIC: uniqueName('beacons'), INGEST_KEY_REFRESH_MS: '500',
  });
  const kafka = createKafka({ ...config, clientId: 'ingest-test' }, { log: silentLog });
  await ensureTopics([{ name: config.INGEST_TOPIC, partitions: 3, retentionMs: 3_600_000, key: 'user_id', value: '' }], { kafka, log: silentLog });

  const sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
  const createKey = async (appId: string) => {
    const key = { keyId: `k_${randomBytes(6).toString('hex')}`, secret: randomBytes(16).toString('hex') };
    await sql.query(keySql['create-key'], [appId, key.keyId, key.secret]);
    return key;
  };
  const key = await createKey('test.app');
  const ingest = await createIngest(config, { log: silentLog });
  return {
    url: `http://127.0.0.1:${ingest.port}`,
    port: ingest.port,
    topic: config.INGEST_TOPIC,
    kafka,
    key,
    createKey,
    revoke: (keyId: string) => sql.query(keySql['revoke-key'], [keyId]),
    async stop() {
      for (const part of [...ingest.parts].reverse()) await part.stop();
      await sql.end();
      const admin = kafka.admin();
      await admin.connect();
      await admin.deleteTopics({ topics: [config.INGEST_TOPIC] }).catch(() => {});
      await admin.disconnect();
      await db.drop();
    },
  };
}

/** Every record on `topic` until `count` events were seen (or the timeout passed). */
export async function readTopic(kafka: ReturnType<typeof createKafka>, topic: string, count: number, timeoutMs = 20_000) {
  const { pipeline } = await import('../schemas/gen/messages.js');
  const consumer = kafka.consumer({ groupId: uniqueName('reader') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const records: { key: string; partition: number; value: InstanceType<typeof pipeline.v1.AcceptedBeacons> }[] = [];
  let seen = 0;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    void consumer.run({
      eachMessage: async ({ message, partition }) => {
        const value = pipeline.v1.AcceptedBeacons.decode(message.value!);
        records.push({ key: String(message.key), partition, value });
        seen += value.events.length;
        if (seen >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return records;
}
