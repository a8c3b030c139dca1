import { join } from 'node:path';
import { Worker, type WorkerOptions } from 'bullmq';
import { configToEnv, type Config } from '../src/config';
import { TRAINING_QUEUE, type TrainingJobData, type TrainingJobResult } from './training-queue';

export const PROCESSOR_FILE = join(__dirname, 'train-model.processor.js');

/**
 * A worker that consumes the training queue and runs each job in a sandboxed child process
 * (see train-model.processor.ts). `overrides` lets tests shorten lock and stall intervals.
 */
export function createTrainingWorker(
  config: Config,
  overrides: Partial<WorkerOptions> = {},
): Worker<TrainingJobData, TrainingJobResult> {
  const connection = { url: config.redisUrl, maxRetriesPerRequest: null };
  return new Worker<TrainingJobData, TrainingJobResult>(TRAINING_QUEUE, PROCESSOR_FILE, {
    connection,
    prefix: config.redisPrefix,
    concurrency: config.workerConcurrency,
    lockDuration: config.jobLockMs,
    // A crashed worker (e.g. a GPU out-of-memory abort) should not fail the job outright.
    maxStalledCount: 3,
    workerForkOptions: { env: { ...process.env, ...configToEnv(config) } },
    ...overrides,
  });
}
