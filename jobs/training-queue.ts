import { randomUUID } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { Config } from '../src/config';
import { trainingRequestSchema, type TrainingRequest } from '../src/schemas/training-request.schema';
import type { TrainingJobData, TrainingJobResult } from '../src/training-jobs/contract';

export const TRAINING_QUEUE = 'training';

/**
 * Transient failures (a lost connection, an out-of-memory GPU) retry with exponential backoff;
 * finished jobs are removed after a while so Redis memory stays bounded (models are kept apart).
 */
export function trainingJobOptions(config: Config): JobsOptions {
  return {
    attempts: config.jobAttempts,
    backoff: { type: 'exponential', delay: config.jobBackoffMs },
    removeOnComplete: { age: config.jobKeepSeconds, count: config.jobKeepCompleted },
    removeOnFail: { age: config.jobKeepSeconds },
  };
}

/**
 * The API's side of the queue. Its connection does not queue commands while Redis is away, so
 * an enqueue fails at once (503) instead of hanging the request, and it retries the connection
 * every 2 s at most (BullMQ's default backs off to 20 s, so enqueues would keep failing for up
 * to 20 s after Redis is back).
 */
export function createTrainingQueue(config: Config): Queue<TrainingJobData, TrainingJobResult> {
  const connection = {
    url: config.redisUrl,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 5_000,
    retryStrategy: (times: number) => Math.min(times * 200, 2_000),
  };
  return new Queue(TRAINING_QUEUE, {
    connection,
    prefix: config.redisPrefix,
    defaultJobOptions: trainingJobOptions(config),
  });
}

export async function enqueueTraining(
  queue: Queue<TrainingJobData, TrainingJobResult>,
  request: TrainingRequest,
  seed: number,
  jobId: string = randomUUID(),
): Promise<string> {
  // Parsed again: the stored job data is exactly what the schema produces.
  const data: TrainingJobData = { request: trainingRequestSchema.parse(request), seed };
  const job = await queue.add('train', data, { jobId });
  return job.id!;
}
