import { Job, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import client from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { env, uniqueName } from '../test/support.js';
import { createFailureTracker, trackJob } from './consumer-faults.js';
import { PipelineError } from './errors.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A real BullMQ queue on the stack's Redis whose worker runs `work` under the tracker; the finished job. */
async function runJob(work: () => Promise<void>, stallAfter = 10) {
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: null });
  const prefix = uniqueName('bull');
  const name = uniqueName('q');
  const queue = new Queue(name, { connection: redis, prefix });
  const events = new QueueEvents(name, { connection: redis.duplicate(), prefix });
  const tracker = createFailureTracker({ service: 'test', stallAfter }, { registry: new client.Registry() });
  const worker = new Worker(name, () => trackJob(tracker, name, work, (reason) => new UnrecoverableError(reason)), {
    connection: redis.duplicate(),
    prefix,
  });
  closers.push(
    () => redis.quit(),
    () => queue.obliterate({ force: true }).then(() => queue.close()),
    () => events.close(),
    () => worker.close(),
  );
  await events.waitUntilReady();
  const job = await queue.add('j', {}, { attempts: 4, backoff: { type: 'fixed', delay: 20 } });
  await job.waitUntilFinished(events).catch(() => {});
  return { job: (await Job.fromId(queue, job.id!))!, tracker };
}

describe('queue jobs under the failure tracker (BullMQ on Redis)', () => {
  it('moves a job that fails with poison to the failed set with its reason, after one attempt', async () => {
    const { job, tracker } = await runJob(async () => {
      throw new PipelineError('payout_state_conflict', 'moved 0 of 1 payouts', { retriable: false });
    });
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toBe('payout_state_conflict: moved 0 of 1 payouts');
    expect(tracker.stalled).toBe(false);
  });

  it('retries a retriable fault with the queue backoff until it succeeds', async () => {
    let calls = 0;
    const { job, tracker } = await runJob(async () => {
      if (++calls < 3) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    }, 2);
    expect(await job.getState()).toBe('completed');
    expect(job.attemptsMade).toBe(3);
    expect(tracker.stalled).toBe(false); // stalled after the second failure, ready again once it succeeded
  });
});
