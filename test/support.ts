// Shared by integration tests: the stack's connection settings and per-test resources with unique
// names. Everything a test creates is named *_test_*, and the drop helpers refuse any other name.
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import { z } from 'zod';
import { loadConfig, stackEnv, withDatabase, type SaslMechanism } from '../common/config.js';
import type { KafkaConnection } from '../common/kafka-security.js';
import { groupLag, withAdmin } from '../common/kafka.js';
import { createLogger } from '../common/log.js';
import { root } from '../stack/supervisor.js';

export { groupLag, withAdmin };

export const env = loadConfig(z.object(stackEnv), process.env);
export const silentLog = createLogger('test', 'silent');
/** A logger whose lines the test can read. */
export function capturingLog() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk, _enc, done) => void (lines.push(JSON.parse(String(chunk))), done()) });
  return { log: pino({ level: 'debug' }, sink), lines };
}
/** The local stack's state folder (stack.sh's STACK_DIR). */
export const stackDir = process.env.STACK_DIR ?? join(root, '.stack');

/**
 * The stack's secured Kafka listeners (stack.sh, README "The local stack"): TLS + SASL as user "ads"
 * two ports after the plain one, and mutual TLS three after it, both with certificates of the stack's CA.
 */
const kafkaPort = Number(env.KAFKA_BROKERS[0]!.split(':').pop());
const tls = (file: string) => join(stackDir, 'kafka/tls', file);
export const securedKafka = {
  sasl: (mechanism: SaslMechanism, password = 'ads-secret'): KafkaConnection => ({
    KAFKA_BROKERS: [`127.0.0.1:${kafkaPort + 2}`],
    KAFKA_SSL_CA_FILE: tls('ca.pem'),
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: 'ads',
    KAFKA_SASL_PASSWORD: password,
  }),
  mutual: (withCertificate: boolean): KafkaConnection => ({
    KAFKA_BROKERS: [`127.0.0.1:${kafkaPort + 3}`],
    KAFKA_SSL_CA_FILE: tls('ca.pem'),
    ...(withCertificate && { KAFKA_SSL_CERT_FILE: tls('client.pem'), KAFKA_SSL_KEY_FILE: tls('client.key') }),
  }),
};

export const uniqueName = (prefix: string) => `${prefix}_test_${randomBytes(5).toString('hex')}`;

export function assertTestName(name: string): void {
  if (!/(^|_)test(_|$)/.test(name)) throw new Error(`refusing to drop "${name}": not a test resource name`);
}

async function onPostgresServer(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: withDatabase(env.DATABASE_URL, 'postgres') });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** Drops a test database of the stack's Postgres server (test names only). */
export async function dropTestPostgres(name: string): Promise<void> {
  assertTestName(name);
  await onPostgresServer(`drop database if exists "${name}" with (force)`);
}

/** A fresh Postgres database; `drop` removes it. */
export async function createTestPostgres(prefix = 'ads') {
  const name = uniqueName(prefix);
  await onPostgresServer(`create database "${name}"`);
  return { name, url: withDatabase(env.DATABASE_URL, name), drop: () => dropTestPostgres(name) };
}

/** A fresh ClickHouse database and a client bound to it; `drop` removes it (test names only). */
export async function createTestClickhouse(prefix = 'ads') {
  const name = uniqueName(prefix);
  const root = createClient({ url: env.CLICKHOUSE_URL, log: { level: ClickHouseLogLevel.OFF } });
  await root.command({ query: `CREATE DATABASE ${name}` });
  const client: ClickHouseClient = createClient({
    url: env.CLICKHOUSE_URL,
    database: name,
    log: { level: ClickHouseLogLevel.OFF },
  });
  return {
    name,
    client,
    async drop() {
      assertTestName(name);
      await client.close();
      await root.command({ query: `DROP DATABASE IF EXISTS ${name}` });
      await root.close();
    },
  };
}

/**
 * The messages of `topic` from its start, read by a fresh consumer group until `enough(messages)`
 * holds or `timeoutMs` passes; then `settleMs` more, so that messages beyond "enough" show up too.
 */
export async function consumeTopic(
  kafka: Kafka,
  topic: string,
  opts: {
    enough(messages: { message: KafkaMessage; partition: number }[]): boolean;
    timeoutMs: number;
    settleMs?: number;
  },
) {
  const consumer = kafka.consumer({ groupId: uniqueName('reader') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const messages: { message: KafkaMessage; partition: number }[] = [];
  await consumer.run({ eachMessage: async ({ message, partition }) => void messages.push({ message, partition }) });
  const deadline = Date.now() + opts.timeoutMs;
  while (!opts.enough(messages) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (opts.settleMs) await new Promise((r) => setTimeout(r, opts.settleMs));
  await consumer.disconnect();
  return messages;
}

/** Waits until consumer group `group` is stable with at least `members` members, polling every `pollMs`. */
export async function waitForMembers(
  admin: Admin,
  group: string,
  opts: { members: number; timeoutMs: number; pollMs: number },
): Promise<void> {
  for (const deadline = Date.now() + opts.timeoutMs; Date.now() < deadline; await sleep(opts.pollMs)) {
    const {
      groups: [g],
    } = await admin.describeGroups([group]);
    if (g?.state === 'Stable' && g.members.length >= opts.members) return;
  }
  throw new Error(`consumer group ${group} never had ${opts.members} members`);
}

/** Waits until consumer group `group` has committed every record of `topic`. */
export function waitDrained(kafka: Kafka, opts: { group: string; topic: string; timeoutMs: number }): Promise<void> {
  return withAdmin(kafka, async (admin) => {
    for (const deadline = Date.now() + opts.timeoutMs; ; await sleep(200)) {
      const lag = await groupLag(admin, opts.group, opts.topic);
      if (lag === 0) return;
      if (Date.now() > deadline)
        throw new Error(`consumer group ${opts.group} still ${lag} records behind on ${opts.topic}`);
    }
  });
}

/** Deletes topics a test made (missing ones are fine). */
export const deleteTopics = (kafka: Kafka, topics: string[]) =>
  withAdmin(kafka, (admin) => admin.deleteTopics({ topics }).catch(() => {}));

/** Deletes every Redis key under a test prefix (test names only). */
export async function deleteRedisPrefix(prefix: string): Promise<void> {
  assertTestName(prefix.replace(/:$/, ''));
  const redis = new Redis(env.REDIS_URL);
  try {
    for (let cursor = '0'; ;) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      if ((cursor = next) === '0') break;
    }
  } finally {
    await redis.quit();
  }
}

/** A TypeScript entry point as a child process, and its exit (the signal, or else the code). */
export function spawnEntry(entry: string, env: Record<string, string | undefined>) {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return {
    child,
    exited: new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.once('exit', (code, signal) => resolve(signal ?? code)),
    ),
  };
}

/** A TCP port free right now on 127.0.0.1 (for a service that must know its own URL before it starts). */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });

// The local stack's servers, when this project's stack script started them (pid files in .stack/).
export type StackServer = 'postgres' | 'redis' | 'clickhouse' | 'kafka';
export const stackOwned = (['postgres', 'redis', 'clickhouse', 'kafka'] as const).every((s) =>
  existsSync(join(stackDir, `${s}.pid`)),
);

export const stackPid = (server: StackServer) =>
  Number(readFileSync(join(stackDir, `${server}.pid`), 'utf8').split(' ')[0]);

/** Signals a stack server: SIGKILL (the default) as a crash would, SIGSTOP and SIGCONT to freeze and thaw it; returns its pid. */
export function killStackServer(server: StackServer, signal: NodeJS.Signals = 'SIGKILL'): number {
  const pid = stackPid(server);
  process.kill(pid, signal);
  // A stop reaches the threads one by one: until the last has stopped, the server may still answer.
  if (signal === 'SIGSTOP') {
    const pause = new Int32Array(new SharedArrayBuffer(4));
    for (const until = Date.now() + 5_000; !allThreadsStopped(pid);) {
      if (Date.now() > until) throw new Error(`${server} (pid ${pid}) did not stop`);
      Atomics.wait(pause, 0, 0, 1);
    }
  }
  return pid;
}

function allThreadsStopped(pid: number): boolean {
  return readdirSync(`/proc/${pid}/task`).every((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return 'tT'.includes(stat[stat.lastIndexOf(')') + 2]!);
    } catch {
      return true; // the thread has exited
    }
  });
}

/** `stack.sh up`: starts every stack server that is not running and waits until each answers. */
export async function stackUp(): Promise<void> {
  await promisify(execFile)('bash', [join(root, 'stack/stack.sh'), 'up'], { timeout: 180_000 });
}
