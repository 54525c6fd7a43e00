// A benchmark's child processes: started as the services run in production, stopped with SIGTERM,
// and what /proc says of them (resident memory and CPU time).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeCommand } from '../stack/supervisor.js';
import { stackDir } from '../test/support.js';

/**
 * An entry point (its TypeScript source, relative to the repository root) as a service process, as
 * `npm start` runs it: compiled (stackUp builds dist/), in development mode (the benchmarks use the
 * published secrets). `BENCH_NODE_FLAGS` adds Node flags to every service and shows their stdout, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof" (profiles for Chrome DevTools) or "--trace-gc".
 */
export const startService = (entry: string, env: Record<string, string>): ChildProcess => {
  const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const [node, ...args] = nodeCommand(entry);
  return spawn(node!, [...flags, ...args], {
    stdio: ['ignore', process.env.BENCH_NODE_FLAGS ? 'inherit' : 'ignore', 'inherit'],
    env: { ...process.env, DEV_MODE: 'true', ...env },
  });
};

export async function stopService(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

/** Resident memory (MB): all of it, or its anonymous part (`RssAnon`: without the files it maps, such as an LMDB store, whose pages the kernel can drop). */
export const rssMb = (p: { pid?: number }, field: 'VmRSS' | 'RssAnon' = 'VmRSS') => {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
};

/** CPU seconds a process has used (utime + stime, in clock ticks of 10 ms). */
export const cpuSeconds = (p: { pid?: number }) => {
  const f = readFileSync(`/proc/${p.pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

/** The local stack's servers (stack/stack.sh writes "<pid> <start time>" to .stack/<name>.pid), for their CPU time. */
export const stackServers = () =>
  ['kafka', 'clickhouse', 'redis']
    .map((name) => join(stackDir, `${name}.pid`))
    .filter((file) => existsSync(file))
    .map((file) => ({ pid: Number(readFileSync(file, 'utf8').split(' ')[0]) }));
