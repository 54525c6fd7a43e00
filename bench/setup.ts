// What every benchmark starts with: the repository root, the stack's settings, a quiet logger, and
// the local stack up with migrations applied.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { z } from 'zod';
import { loadConfig, stackEnv } from '../common/config.js';
import { createLogger } from '../common/log.js';

export const root = join(import.meta.dirname, '..');
export const env = loadConfig(z.object(stackEnv), process.env);
export const log = createLogger('bench', 'warn');

export function stackUp(): void {
  execFileSync('bash', [join(root, 'stack/stack.sh'), 'up'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['--import', 'tsx', join(root, 'schemas/migrate-main.ts')], { stdio: ['ignore', 'ignore', 'inherit'] });
}
