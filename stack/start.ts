// `npm start`: the local stack, migrations, then every service as its own process under one
// supervisor that prefixes their logs, restarts a crashed service with backoff, and on Ctrl-C
// stops the services (and the stack, if this run started it) cleanly. Beside the WeChat sandbox runs
// the ad-network simulator, whose AdMob verifier keys the collector trusts (development only).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureAdmobKey } from './ad-network/keys.js';
import { nodeCommand, root, supervise } from './supervisor.js';

const run = (cmd: string[], stdio: 'inherit' | 'ignore' = 'inherit') =>
  spawnSync(cmd[0]!, cmd.slice(1), { stdio, cwd: root }).status === 0;
const stack = (command: string) => ['bash', join(root, 'stack/stack.sh'), command];

const stackWasUp = run(stack('status'), 'ignore');
if (!run(stack('up')) || !run(nodeCommand('schemas/migrate-main.ts'))) process.exit(1);

// The simulator's key exists before the collector first loads the verifier-key list.
const adnet = ensureAdmobKey(process.env.ADNET_DIR ?? join(process.env.STACK_DIR ?? join(root, '.stack'), 'adnet'));
// Local development: the services may use the secrets published in this repository, and the
// collector trusts the simulator's AdMob key instead of Google's (unless told otherwise).
const supervisor = supervise({
  env: { DEV_MODE: 'true', INGEST_ADMOB_KEYS_URL: process.env.INGEST_ADMOB_KEYS_URL ?? adnet.verifierUrl },
});
console.log(
  `[start] running: ${supervisor.names.join(', ')}. Ctrl-C stops everything; \`npm run demo\` in another terminal plays traffic.`,
);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  console.log('[start] stopping services');
  await supervisor.stop();
  if (!stackWasUp) run(stack('down'));
  else console.log('[start] the stack was already running before; leaving it up (npm run stack:down stops it)');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
