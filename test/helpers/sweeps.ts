import { QueueEvents, type Worker } from 'bullmq';
import type { Config } from '../../src/config';
import { bullmqConnection } from '../../src/store/redis';
import { createSweepQueues, SWEEP_QUEUE } from '../../jobs/sweep-queue';
import { createSweepWorker } from '../../jobs/sweep-worker';

export interface SweepHarness {
  worker: Worker;
  /** Resolves when the sweep's parent job completes (after all its runs); rejects if it fails. */
  waitForSweep(sweepId: string, timeoutMs?: number): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * The sweep worker that completes parents once their training jobs are done, and QueueEvents on
 * the sweeps queue to wait on its real completed event. Next to startService's training worker.
 */
export async function startSweepWorker(config: Config): Promise<SweepHarness> {
  const connection = bullmqConnection(config.redisUrl, 'blocking');
  const events = new QueueEvents(SWEEP_QUEUE, { connection, prefix: config.redisPrefix });
  await events.waitUntilReady();
  const worker = createSweepWorker(config);
  await worker.waitUntilReady();
  const { flow, queue } = createSweepQueues(config);
  return {
    worker,
    async waitForSweep(sweepId, timeoutMs = 180_000) {
      const job = await queue.getJob(sweepId);
      if (!job) throw new Error(`no sweep ${sweepId}`);
      return job.waitUntilFinished(events, timeoutMs);
    },
    async close() {
      await worker.close();
      await events.close();
      await flow.close();
      await queue.close();
    },
  };
}
