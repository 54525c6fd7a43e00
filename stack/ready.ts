// Waits until each local-stack server answers a real query through the driver the services use.
// Called by stack.sh after starting processes; exits non-zero naming the server that never answered.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { withDatabase } from '../common/config.js';
import { Redis } from 'ioredis';

const env = process.env;
const timeoutMs = Number(env.READY_TIMEOUT_S ?? 90) * 1000;
const logs = `${env.STACK_DIR}/<name>/<name>.log`;

const probes: Record<string, () => Promise<void>> = {
  async postgres() {
    // The service database may not exist before `npm run migrate`.
    const client = new pg.Client({
      connectionString: withDatabase(env.DATABASE_URL!, 'postgres'),
      connectionTimeoutMillis: 2000,
    });
    try {
      await client.connect();
      await client.query('select 1');
    } finally {
      await client.end().catch(() => {});
    }
  },
  async redis() {
    const redis = new Redis(env.REDIS_URL!, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => {}); // the failed connect rejects below; no unhandled-error noise
    try {
      await redis.connect();
      const policy = (await redis.config('GET', 'maxmemory-policy')) as string[];
      if (policy[1] !== 'noeviction') throw new Error(`maxmemory-policy is ${policy[1]}, BullMQ needs noeviction`);
    } finally {
      redis.disconnect();
    }
  },
  async clickhouse() {
    const ch = createClient({ url: env.CLICKHOUSE_URL, request_timeout: 2000, log: { level: ClickHouseLogLevel.OFF } });
    try {
      const rs = await ch.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' });
      await rs.json();
    } finally {
      await ch.close();
    }
  },
  async kafka() {
    const admin = new Kafka({
      brokers: env.KAFKA_BROKERS!.split(','),
      logLevel: logLevel.NOTHING,
      connectionTimeout: 2000,
      retry: { retries: 0 },
    }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.controller == null) throw new Error('no active controller yet');
    } finally {
      await admin.disconnect();
    }
  },
};

// A server that exited during start-up fails at once rather than at the deadline. Zombies count as
// exited (pid 1 may not reap the orphans stack.sh leaves).
function exited(pid: number): boolean {
  if (!pid) return false;
  try {
    return / [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, ' '));
  } catch {
    return true;
  }
}

async function waitFor(name: string, pid: number): Promise<void> {
  const probe = probes[name];
  if (!probe) throw new Error(`unknown service ${name}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await probe();
    } catch (err) {
      if (exited(pid)) throw new Error(`${name} exited during start-up; see ${logs.replaceAll('<name>', name)}`);
      if (Date.now() > deadline) {
        throw new Error(
          `${name} did not answer within ${timeoutMs / 1000} s (${(err as Error).message}); ` +
            `see ${logs.replaceAll('<name>', name)}`,
        );
      }
      await sleep(250);
    }
  }
}

// Arguments are name=pid pairs (pid 0: not started by us, just probe it).
const results = await Promise.allSettled(
  process.argv.slice(2).map(async (arg) => {
    const [name = '', pid = '0'] = arg.split('=');
    const started = Date.now();
    await waitFor(name, Number(pid));
    console.log(`[stack] ${name} ready (${Date.now() - started} ms)`);
  }),
);
const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
for (const f of failed) console.error(`[stack] error: ${(f.reason as Error).message}`);
process.exit(failed.length ? 1 : 0);
