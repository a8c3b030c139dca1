import { join } from 'node:path';
import { Worker, type WorkerOptions } from 'bullmq';
import { configToEnv, type Config } from '../src/config';
import { bullmqConnection } from '../src/store/redis';
import type { TrainingJobData, TrainingJobResult } from '../src/training-jobs/contract';
import { TRAINING_QUEUE } from './training-queue';

export const PROCESSOR_FILE = join(__dirname, 'train-model.processor.js');

/**
 * A worker that consumes the training queue and runs each job in a sandboxed child process
 * (see train-model.processor.ts). `overrides` lets tests shorten lock and stall intervals.
 */
export function createTrainingWorker(
  config: Config,
  overrides: Partial<WorkerOptions> = {},
): Worker<TrainingJobData, TrainingJobResult> {
  return new Worker<TrainingJobData, TrainingJobResult>(TRAINING_QUEUE, PROCESSOR_FILE, {
    ...sandboxedWorkerOptions(config),
    ...overrides,
  });
}

/**
 * The options of a worker whose jobs run in sandboxed child processes (training, batch
 * prediction): the lock and stall settings, and the config handed to the child's environment.
 */
export function sandboxedWorkerOptions(config: Config): WorkerOptions {
  return {
    connection: bullmqConnection(config.redisUrl, 'blocking'),
    prefix: config.redisPrefix,
    concurrency: config.workerConcurrency,
    lockDuration: config.jobLockMs,
    stalledInterval: config.jobStalledIntervalMs,
    // A crashed worker (e.g. a GPU out-of-memory abort) should not fail the job outright: the job
    // goes back to the queue and resumes from its last checkpoint.
    maxStalledCount: config.jobMaxStalled,
    workerForkOptions: { env: { ...process.env, ...configToEnv(config) } },
  };
}

/** The reason a shutdown gives the running jobs' abort signals (the processor hands them back). */
export const SHUTDOWN_REASON = 'the worker is shutting down';

/**
 * Graceful stop within `graceMs`: take no new jobs and let the running ones finish; if they are
 * not done after 80 % of the grace period, abort the running jobs through BullMQ
 * (`cancelAllJobs`: the sandbox passes the abort to each job's processor), which stop after their
 * current batch and put their jobs back in the queue: they resume from the last epoch's
 * checkpoint on whichever worker takes them next. Nothing is lost either way.
 *
 * Only BullMQ signals the sandboxed trainers: its child pool forked them, and `close()` stops
 * them once their jobs are done. Other children of this process (the private redis-server of
 * `npm start`, see src/local-redis.ts) are not touched.
 */
export async function closeGracefully(worker: Worker, graceMs: number): Promise<void> {
  const closing = worker.close();
  const drainAfter = setTimeout(() => worker.cancelAllJobs(SHUTDOWN_REASON), Math.floor(graceMs * 0.8));
  try {
    await closing;
  } finally {
    clearTimeout(drainAfter);
  }
}
