// Graceful shutdown: on SIGTERM or SIGINT, stop every long-lived part in reverse start order
// (so a server stops accepting before the producer behind it flushes), then exit. When `failed`
// resolves (a part that cannot recover, such as a Kafka consumer that kafkajs will not restart),
// the same orderly stop, then exit 1, so the supervisor starts a fresh process.
// A second signal, or a stop that takes longer than `timeoutMs`, exits at once with status 1.
import type { Logger } from './log.js';

export interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

export function handleShutdown(
  parts: Stoppable[],
  deps: { log: Logger; timeoutMs?: number; failed?: Promise<unknown> },
): void {
  let stopping = false;
  const stop = (fields: Record<string, unknown>, status: number) => {
    stopping = true;
    deps.log.info(fields, 'shutdown_started');
    const timer = setTimeout(() => {
      deps.log.error('shutdown_timed_out');
      process.exit(1);
    }, deps.timeoutMs ?? 30_000);
    timer.unref();
    void stopAll(parts, deps.log).then((failed) => process.exit(failed ? 1 : status));
  };
  const onSignal = (signal: NodeJS.Signals) => (stopping ? process.exit(1) : stop({ signal }, 0));
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  void deps.failed?.then((err) => {
    deps.log.error({ err }, 'unrecoverable_failure');
    if (!stopping) stop({ reason: 'unrecoverable_failure' }, 1);
  });
}

/**
 * For crash tests (a test-crash-main.ts): an `onStep` hook that SIGKILLs the process, as a crash
 * would, the CRASH_AFTER-th time (default 1) it reaches step CRASH_AT.
 */
export function crashOnStep(env: { CRASH_AT?: string; CRASH_AFTER?: string }): (step: string) => void {
  let reached = 0;
  return (step) => {
    if (step === env.CRASH_AT && ++reached >= Number(env.CRASH_AFTER ?? 1)) process.kill(process.pid, 'SIGKILL');
  };
}

export async function stopAll(parts: Stoppable[], log: Logger): Promise<boolean> {
  let failed = false;
  for (const part of [...parts].reverse()) {
    try {
      await part.stop();
      log.info({ part: part.name }, 'stopped');
    } catch (err) {
      failed = true;
      log.error({ part: part.name, err }, 'stop_failed');
    }
  }
  return failed;
}
