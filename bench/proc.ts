// A benchmark's child processes: started as the services run in production, stopped with SIGTERM,
// and what /proc says of them (resident memory and CPU time).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './setup.js';

/** A TypeScript entry point (relative to the repository root) as a service process, as `npm start` runs it (in development mode: the benchmarks use the published secrets). */
/** `BENCH_CPU_PROF=<dir>` writes each service's CPU profile there (.cpuprofile, for Chrome DevTools). */
export const startService = (entry: string, env: Record<string, string>): ChildProcess => {
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  return spawn(process.execPath, ['--max-semi-space-size=16', ...prof, '--import', 'tsx', join(root, entry)], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEV_MODE: 'true', ...env } });
};

export async function stopService(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

export const rssMb = (p: { pid?: number }) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
};

/** CPU seconds a process has used (utime + stime, in clock ticks of 10 ms). */
export const cpuSeconds = (p: ChildProcess) => {
  const f = readFileSync(`/proc/${p.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
