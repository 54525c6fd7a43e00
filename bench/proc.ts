// What a benchmark reads about its child processes from /proc: resident memory and CPU time.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const rssMb = (p: ChildProcess) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
};

/** CPU seconds a process has used (utime + stime, in clock ticks of 10 ms). */
export const cpuSeconds = (p: ChildProcess) => {
  const f = readFileSync(`/proc/${p.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
