// Runs services as child processes: prefixes their log lines with `[name]`, restarts one that exits
// (with backoff, reset after a minute of health) and stops them all with SIGTERM (SIGKILL after
// 30 s). `npm start` uses it, and so do the end-to-end tests and benchmark.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { dist, root } from '../common/root.js';

export { root };

/** Every long-running service, in start order. */
export const services = [
  { name: 'ingest', entry: 'ingest/main.ts' },
  { name: 'aggregator', entry: 'aggregator/main.ts' },
  { name: 'wechat-sandbox', entry: 'payouts/sandbox/main.ts' },
  { name: 'ad-network', entry: 'stack/ad-network/main.ts' },
  { name: 'rewards', entry: 'rewards/main.ts' },
  { name: 'payouts', entry: 'payouts/main.ts' },
] as const;
export type ServiceName = (typeof services)[number]['name'];

/**
 * The node command line of an entry point (a path to its TypeScript source), run compiled from dist/
 * (`npm run build`), as production runs it. A larger young generation: the services allocate many
 * short-lived objects per message.
 */
export const nodeCommand = (entry: string) => [
  process.execPath,
  '--max-semi-space-size=16',
  '--enable-source-maps',
  join(dist, entry.replace(/\.ts$/, '.js')),
];

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const SAID = new Set(['level', 'time', 'service', 'name', 'msg', 'pid', 'hostname']);

/**
 * A service's pino line for a person at a terminal: `12:00:01.234 WARN msg key=value …`, an error's
 * stack on the lines after. Anything that is not a JSON object stays as it is.
 */
export function readable(line: string): string {
  if (!line.startsWith('{')) return line;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = LEVELS[entry.level as number] ?? String(entry.level ?? '');
  let text = `${time} ${level.padEnd(5)} ${String(entry.msg ?? '')}`;
  let stack = '';
  for (const [key, value] of Object.entries(entry)) {
    if (SAID.has(key)) continue;
    const err =
      key === 'err' && value && typeof value === 'object' ? (value as { message?: string; stack?: string }) : undefined;
    if (err?.stack) stack = `\n  ${err.stack.replaceAll('\n', '\n  ')}`;
    text += ` ${key}=${err ? JSON.stringify(err.message ?? '') : typeof value === 'string' ? value : JSON.stringify(value)}`;
  }
  return text + stack;
}

function prefixed(name: string, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream) {
  // At a terminal, the JSON lines are shown readable; piped or to a file (and in production) they stay JSON.
  const show = (out as { isTTY?: boolean }).isTTY ? readable : (line: string) => line;
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) out.write(`[${name}] ${show(line)}\n`);
  });
}

export function supervise(opts: { env?: Record<string, string | undefined>; out?: NodeJS.WritableStream } = {}) {
  const out = opts.out ?? process.stdout;
  const children = new Map<ServiceName, ChildProcess>();
  let stopping = false;

  function start(svc: (typeof services)[number], attempt = 0) {
    const [cmd, ...args] = nodeCommand(svc.entry);
    const child = spawn(cmd!, args, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    children.set(svc.name, child);
    prefixed(svc.name, child.stdout!, out);
    prefixed(svc.name, child.stderr!, out === process.stdout ? process.stderr : out);
    const startedAt = Date.now();
    child.on('exit', (code, signal) => {
      children.delete(svc.name);
      if (stopping) return;
      const next = Date.now() - startedAt > 60_000 ? 0 : attempt + 1;
      const delayMs = Math.min(30_000, 500 * 2 ** next);
      out.write(`[start] ${svc.name} exited (${signal ?? code}); restarting in ${delayMs} ms\n`);
      setTimeout(() => !stopping && start(svc, next), delayMs);
    });
  }

  for (const svc of services) start(svc);

  return {
    names: services.map((s) => s.name),
    /** The process id of a running service. */
    pid: (name: ServiceName) => children.get(name)?.pid,
    /** Sends `signal` to a running service; the supervisor restarts it. */
    kill(name: ServiceName, signal: NodeJS.Signals = 'SIGKILL') {
      children.get(name)?.kill(signal);
    },
    async stop() {
      stopping = true;
      await Promise.all(
        [...children.values()].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
              child.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
export type Supervisor = ReturnType<typeof supervise>;
