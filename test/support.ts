// Shared by integration tests: the stack's connection settings and per-test resources with unique
// names. Everything a test creates is named *_test_*, and the drop helpers refuse any other name.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import type { Kafka, KafkaMessage } from 'kafkajs';
import pg from 'pg';
import { z } from 'zod';
import { loadConfig, stackEnv, withDatabase } from '../common/config.js';
import { createLogger } from '../common/log.js';

export const env = loadConfig(z.object(stackEnv), process.env);
export const silentLog = createLogger('test', 'silent');

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
  const client: ClickHouseClient = createClient({ url: env.CLICKHOUSE_URL, database: name, log: { level: ClickHouseLogLevel.OFF } });
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
export async function consumeTopic(kafka: Kafka, topic: string, opts: { enough(messages: { message: KafkaMessage; partition: number }[]): boolean; timeoutMs: number; settleMs?: number }) {
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

/** Waits until consumer group `group` has committed every record of `topic`. */
export async function waitDrained(kafka: Kafka, opts: { group: string; topic: string; timeoutMs: number }): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const ends = await admin.fetchTopicOffsets(opts.topic);
      const [committed] = await admin.fetchOffsets({ groupId: opts.group, topics: [opts.topic] });
      const lag = ends.reduce((sum, p) => {
        const at = Number(committed?.partitions.find((c) => c.partition === p.partition)?.offset ?? -1);
        return sum + Number(p.high) - Math.max(at, 0);
      }, 0);
      if (lag === 0) return;
      if (Date.now() > deadline) throw new Error(`consumer group ${opts.group} still ${lag} records behind on ${opts.topic}`);
      await sleep(200);
    }
  } finally {
    await admin.disconnect();
  }
}
