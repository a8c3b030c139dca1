import { randomBytes } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { Config } from '../src/config';
import {
  batchPredictionJobDataSchema,
  type BatchPredictionJobData,
  type BatchPredictionResult,
} from '../src/schemas/batch-prediction.schema';
import { bullmqConnection } from '../src/store/redis';

/** Its own queue: a long batch never delays training jobs, and workers can be scaled apart. */
export const BATCH_PREDICTION_QUEUE = 'batch-predictions';

export type BatchPredictionQueue = Queue<BatchPredictionJobData, BatchPredictionResult>;

/**
 * Retries and stall recovery as for training; finished batches are kept for JOB_KEEP_SECONDS (by
 * age only: the results live that long too, so a batch never outlives or is outlived by them).
 */
export function batchPredictionJobOptions(config: Config): JobsOptions {
  return {
    attempts: config.jobAttempts,
    backoff: { type: 'exponential', delay: config.jobBackoffMs },
    removeOnComplete: { age: config.jobKeepSeconds },
    removeOnFail: { age: config.jobKeepSeconds },
  };
}

/** The API's side of the queue, on a fail-fast connection (an enqueue fails at once while Redis is away). */
export function createBatchPredictionQueue(config: Config): BatchPredictionQueue {
  return new Queue(BATCH_PREDICTION_QUEUE, {
    connection: bullmqConnection(config.redisUrl, 'fail-fast'),
    prefix: config.redisPrefix,
    defaultJobOptions: batchPredictionJobOptions(config),
  });
}

export function newBatchId(): string {
  return `bp_${randomBytes(9).toString('base64url')}`;
}

export async function enqueueBatchPrediction(
  queue: BatchPredictionQueue,
  data: BatchPredictionJobData,
  batchId: string = newBatchId(),
): Promise<string> {
  // Parsed again: the stored job data is exactly what the schema produces.
  const job = await queue.add('batch-predict', batchPredictionJobDataSchema.parse(data), { jobId: batchId });
  return job.id!;
}
