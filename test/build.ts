// Vitest's global setup: compiles dist/ first (incremental), since the services and CLIs the tests
// start run compiled, as `npm start` runs them (stack/supervisor.ts nodeCommand).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { root } from '../common/root.js';

export default function setup(): void {
  execFileSync(process.execPath, ['--import', 'tsx', join(root, 'stack/build.ts')], { stdio: 'inherit' });
}
