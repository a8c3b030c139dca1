import { join } from 'node:path';
import { Worker, type WorkerOptions } from 'bullmq';
import type { Config } from '../src/config';
import type { BatchPredictionJobData, BatchPredictionResult } from '../src/schemas/batch-prediction.schema';
import { BATCH_PREDICTION_QUEUE } from './batch-prediction-queue';
import { sandboxedWorkerOptions } from './training-worker';

export const BATCH_PROCESSOR_FILE = join(__dirname, 'batch-predict.processor.js');

/**
 * Consumes the batch prediction queue, each job in a sandboxed child process as training jobs
 * run (jobs/training-worker.ts): the network's work stays off the worker's event loop, so the
 * job lock keeps being renewed, and a worker that dies hands its batch to another through
 * BullMQ's stalled-job check. `overrides` lets tests shorten lock and stall intervals.
 */
export function createBatchPredictionWorker(
  config: Config,
  overrides: Partial<WorkerOptions> = {},
): Worker<BatchPredictionJobData, BatchPredictionResult> {
  return new Worker<BatchPredictionJobData, BatchPredictionResult>(BATCH_PREDICTION_QUEUE, BATCH_PROCESSOR_FILE, {
    ...sandboxedWorkerOptions(config),
    ...overrides,
  });
}
