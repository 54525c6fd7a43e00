// Integration-test harness: a collector built by createIngest against the real local stack, with
// its own test database (apps and keys migrated in), its own topic, and a fresh signing key.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../common/config.js';
import { createKafka } from '../common/kafka.js';
import { ensureTopics, migratePostgres } from '../schemas/migrate.js';
import { consumeTopic, createTestPostgres, deleteTopics, silentLog, uniqueName } from '../test/support.js';
import { createIngest } from './app.js';
import { ingestConfig } from './config.js';
import { keySql } from './keys-pg.js';

export async function startTestCollector(env: Record<string, string> = {}) {
  const db = await createTestPostgres('ingest');
  await migratePostgres({ DATABASE_URL: db.url }, { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/postgres') });
  const config = loadConfig(ingestConfig, {
    ...process.env, INGEST_PORT: '0', INGEST_OPS_PORT: '0', INGEST_DEVICE_REQUESTS_PER_S: '0', LOG_LEVEL: 'silent', ...env,
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
    /** The ops listener (/metrics). */
    opsUrl: `http://127.0.0.1:${ingest.opsPort}`,
    topic: config.INGEST_TOPIC,
    kafka,
    key,
    createKey,
    revoke: (keyId: string) => sql.query(keySql['revoke-key'], [keyId]),
    async stop() {
      for (const part of [...ingest.parts].reverse()) await part.stop();
      await sql.end();
      await deleteTopics(kafka, [config.INGEST_TOPIC]);
      await db.drop();
    },
  };
}

/**
 * Every record on `topic` (each decoded, strictly) until `count` events were seen, or until `until`
 * holds for the event ids seen, or the timeout passed.
 */
export async function readTopic(kafka: ReturnType<typeof createKafka>, topic: string, count: number | ((eventIds: string[]) => boolean), timeoutMs = 20_000) {
  const { pipeline } = await import('../schemas/gen/messages.js');
  const decoded = new WeakMap<object, InstanceType<typeof pipeline.v1.AcceptedBeacons>>();
  const decode = (m: { message: { value: Buffer | null } }) => {
    let v = decoded.get(m.message);
    if (!v) decoded.set(m.message, (v = pipeline.v1.AcceptedBeacons.decode(m.message.value!)));
    return v;
  };
  const enough = typeof count === 'number'
    ? (seen: { message: { value: Buffer | null } }[]) => seen.reduce((n, m) => n + decode(m).events.length, 0) >= count
    : (seen: { message: { value: Buffer | null } }[]) => count(seen.flatMap((m) => decode(m).events.map((e) => e.event!.eventId!)));
  const messages = await consumeTopic(kafka, topic, { timeoutMs, enough });
  return messages.map((m) => ({ key: String(m.message.key), partition: m.partition, value: decode(m) }));
}
