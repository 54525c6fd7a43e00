// `npm start`: the local stack, migrations, then every service as its own process under one
// supervisor that prefixes their logs, restarts a crashed service with backoff, and on Ctrl-C
// stops the services (and the stack, if this run started it) cleanly.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
// A larger young generation: the services allocate many short-lived objects per message.
const node = (entry: string) => [process.execPath, '--max-semi-space-size=16', '--import', 'tsx', join(root, entry)];

/** Every long-running service, in start order. Each issue adds its service here. */
const services: { name: string; entry: string }[] = [
  { name: 'ingest', entry: 'ingest/main.ts' },
  { name: 'aggregator', entry: 'aggregator/main.ts' },
  { name: 'wechat-sandbox', entry: 'payouts/sandbox/main.ts' },
  { name: 'rewards', entry: 'rewards/main.ts' },
  { name: 'payouts', entry: 'payouts/main.ts' },
];

const run = (cmd: string[]) => spawnSync(cmd[0]!, cmd.slice(1), { stdio: 'inherit', cwd: root }).status === 0;

const stackWasUp = spawnSync('bash', [join(root, 'stack/stack.sh'), 'status'], { stdio: 'ignore' }).status === 0;
if (!run(['bash', join(root, 'stack/stack.sh'), 'up']) || !run(node('schemas/migrate-main.ts'))) process.exit(1);

const children = new Map<string, ChildProcess>();
let stopping = false;

function prefixed(name: string, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream) {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) out.write(`[${name}] ${line}\n`);
  });
}

function start(svc: { name: string; entry: string }, attempt = 0) {
  const [cmd, ...args] = node(svc.entry);
  const child = spawn(cmd!, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  children.set(svc.name, child);
  prefixed(svc.name, child.stdout!, process.stdout);
  prefixed(svc.name, child.stderr!, process.stderr);
  const startedAt = Date.now();
  child.on('exit', (code, signal) => {
    children.delete(svc.name);
    if (stopping) return;
    // A service that ran for a minute is healthy again: reset its backoff.
    const next = Date.now() - startedAt > 60_000 ? 0 : attempt + 1;
    const delayMs = Math.min(30_000, 500 * 2 ** next);
    console.error(`[start] ${svc.name} exited (${signal ?? code}); restarting in ${delayMs} ms`);
    setTimeout(() => !stopping && start(svc, next), delayMs);
  });
}

for (const svc of services) start(svc);
console.log(`[start] running: ${services.map((s) => s.name).join(', ')}. Ctrl-C stops everything.`);

async function shutdown() {
  if (stopping) return;
  stopping = true;
  console.log('[start] stopping services');
  await Promise.all([...children.values()].map((child) => new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  })));
  if (!stackWasUp) run(['bash', join(root, 'stack/stack.sh'), 'down']);
  else console.log('[start] the stack was already running before; leaving it up (npm run stack:down stops it)');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
