// Integration-test harness: a collector built by createIngest against the real local stack, with
// its own test database (apps and keys migrated in), its own topics, a fresh signing key, and an
// AdMob verifier-key file holding a key it generated (so tests sign callbacks as Google would).
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../common/config.js';
import { createKafka } from '../common/kafka.js';
import type { pipeline } from '../schemas/gen/messages.js';
import { ensureTopics, migratePostgres } from '../schemas/migrate.js';
import { consumeTopic, createTestPostgres, deleteTopics, silentLog, uniqueName } from '../test/support.js';
import { createIngest } from './app.js';
import { ingestConfig } from './config.js';
import { assignCampaign, createNetworkSecret, registerAdUnit } from './apps-s2s.js';
import { keySql } from './keys-pg.js';

export async function startTestCollector(env: Record<string, string> = {}) {
  const db = await createTestPostgres('ingest');
  await migratePostgres(
    { DATABASE_URL: db.url },
    { log: silentLog, dir: join(import.meta.dirname, '../schemas/migrations/postgres') },
  );
  const admobDir = mkdtempSync(join(tmpdir(), 'admob-keys-'));
  const admob = { keyId: 1001, privateKey: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey };
  const pem = createPublicKeyPem(admob.privateKey);
  writeFileSync(
    join(admobDir, 'verifier-keys.json'),
    JSON.stringify({ keys: [{ keyId: admob.keyId, pem, base64: '' }] }),
  );
  const config = loadConfig(ingestConfig, {
    ...process.env,
    INGEST_PORT: '0',
    INGEST_OPS_PORT: '0',
    INGEST_DEVICE_REQUESTS_PER_S: '0',
    LOG_LEVEL: 'silent',
    INGEST_ADMOB_KEYS_URL: pathToFileURL(join(admobDir, 'verifier-keys.json')).href,
    ...env,
    DATABASE_URL: db.url,
    INGEST_TOPIC: uniqueName('beacons'),
    INGEST_CONFIRMATIONS_TOPIC: uniqueName('confirmations'),
    INGEST_KEY_REFRESH_MS: '500',
  });
  const kafka = createKafka({ ...config, clientId: 'ingest-test' }, { log: silentLog });
  await ensureTopics(
    [config.INGEST_TOPIC, config.INGEST_CONFIRMATIONS_TOPIC].map((name) => ({
      name,
      partitions: 3,
      retentionMs: 3_600_000,
      key: 'user_id',
      value: '',
    })),
    { kafka, log: silentLog },
  );

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
    confirmationsTopic: config.INGEST_CONFIRMATIONS_TOPIC,
    /** Signs AdMob callbacks with the key the collector's verifier-key file holds (signAdmobQuery). */
    admob,
    kafka,
    key,
    createKey,
    revoke: (keyId: string) => sql.query(keySql['revoke-key'], [keyId]),
    /** The ownership commands of `npm run apps`, on the test database: each returns the line the command prints. */
    apps: {
      campaign: (campaignId: string, appId: string) => assignCampaign(sql, campaignId, appId),
      network: (network: string, appId: string) => createNetworkSecret(sql, network, appId),
      adUnit: (network: string, adUnit: string, appId: string, campaignId: string) =>
        registerAdUnit(sql, network, adUnit, appId, campaignId),
    },
    /** Runs a statement on the test database (e.g. to revoke a network secret). */
    query: (text: string, values: unknown[] = []) => sql.query(text, values),
    async stop() {
      for (const part of [...ingest.parts].reverse()) await part.stop();
      await sql.end();
      await deleteTopics(kafka, [config.INGEST_TOPIC, config.INGEST_CONFIRMATIONS_TOPIC]);
      await db.drop();
      rmSync(admobDir, { recursive: true, force: true });
    },
  };
}

/**
 * Every record on `topic` (each decoded, strictly) until `count` events were seen, or until `until`
 * holds for the event ids seen, or the timeout passed.
 */
export async function readTopic(
  kafka: ReturnType<typeof createKafka>,
  topic: string,
  count: number | ((eventIds: string[]) => boolean),
  timeoutMs = 20_000,
) {
  const { pipeline } = await import('../schemas/gen/messages.js');
  const decoded = new WeakMap<object, InstanceType<typeof pipeline.v1.AcceptedBeacons>>();
  const decode = (m: { message: { value: Buffer | null } }) => {
    let v = decoded.get(m.message);
    if (!v) decoded.set(m.message, (v = pipeline.v1.AcceptedBeacons.decode(m.message.value!)));
    return v;
  };
  const enough =
    typeof count === 'number'
      ? (seen: { message: { value: Buffer | null } }[]) =>
          seen.reduce((n, m) => n + decode(m).events.length, 0) >= count
      : (seen: { message: { value: Buffer | null } }[]) =>
          count(seen.flatMap((m) => decode(m).events.map((e) => e.event!.eventId!)));
  const messages = await consumeTopic(kafka, topic, { timeoutMs, enough });
  return messages.map((m) => ({ key: String(m.message.key), partition: m.partition, value: decode(m) }));
}

const createPublicKeyPem = (privateKey: KeyObject) =>
  createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string;

type ConfirmationRecord = { key: string; value: pipeline.v1.Confirmation };

/** Every Confirmation on `topic` until `enough` holds for them (or the timeout passed). */
export async function readConfirmations(
  kafka: ReturnType<typeof createKafka>,
  topic: string,
  enough: (records: ConfirmationRecord[]) => boolean,
  timeoutMs = 20_000,
): Promise<ConfirmationRecord[]> {
  const { pipeline: gen } = await import('../schemas/gen/messages.js');
  const decode = (m: { message: { key: Buffer | null; value: Buffer | null } }): ConfirmationRecord => ({
    key: String(m.message.key),
    value: gen.v1.Confirmation.decode(m.message.value!),
  });
  const messages = await consumeTopic(kafka, topic, { timeoutMs, enough: (seen) => enough(seen.map(decode)) });
  return messages.map(decode);
}
