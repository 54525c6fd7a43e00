// What every benchmark starts with: the repository root, the stack's settings, a quiet logger, and
// the local stack up with migrations applied.
import { execFileSync } from 'node:child_process';
import type { Kafka } from 'kafkajs';
import { join } from 'node:path';
import { z } from 'zod';
import { loadConfig, stackEnv } from '../common/config.js';
import { createLogger } from '../common/log.js';
import { ensureTopics } from '../schemas/migrate.js';

export const root = join(import.meta.dirname, '..');
export const env = loadConfig(z.object(stackEnv), process.env);
export const log = createLogger('bench', 'warn');

export function stackUp(): void {
  execFileSync('bash', [join(root, 'stack/stack.sh'), 'up'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['--import', 'tsx', join(root, 'schemas/migrate-main.ts')], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Topics named for this run (`bench.<name>.<run>`), remembered in `made` so the run can delete them. */
export function benchTopics(kafka: Kafka, run: string) {
  const made: string[] = [];
  return {
    made,
    async newTopic(name: string, partitions = 6) {
      const topic = `bench.${name}.${run}`;
      await ensureTopics([{ name: topic, partitions, retentionMs: 3_600_000, key: 'user_id', value: '' }], { kafka, log });
      made.push(topic);
      return topic;
    },
  };
}
