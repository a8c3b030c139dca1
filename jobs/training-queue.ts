import { randomUUID } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { Config } from '../src/config';
import { trainingRequestSchema, type TrainingRequest } from '../src/schemas/training-request.schema';

export const TRAINING_QUEUE = 'training';

/** The data of a training job: the validated request, and the seed fixed at enqueue time. */
export interface TrainingJobData {
  request: TrainingRequest;
  seed: number;
}

export interface TrainingJobResult {
  modelId: string;
  epochsRun: number;
  seed: number;
  backend: string;
  warnings: string[];
}

/** Transient failures (a lost connection, an out-of-memory GPU) retry with exponential backoff. */
export const TRAINING_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

/**
 * The API's side of the queue. Its connection does not queue commands while Redis is away, so
 * an enqueue fails at once (503) instead of hanging the request.
 */
export function createTrainingQueue(config: Config): Queue<TrainingJobData, TrainingJobResult> {
  const connection = {
    url: config.redisUrl,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 5_000,
  };
  return new Queue(TRAINING_QUEUE, { connection, prefix: config.redisPrefix });
}

export function metricsKey(prefix: string, jobId: string): string {
  return `${prefix}:job:${jobId}:metrics`;
}

export async function enqueueTraining(
  queue: Queue<TrainingJobData, TrainingJobResult>,
  request: TrainingRequest,
  seed: number,
): Promise<string> {
  // Parsed again: the stored job data is exactly what the schema produces.
  const data: TrainingJobData = { request: trainingRequestSchema.parse(request), seed };
  const job = await queue.add('train', data, { ...TRAINING_JOB_OPTIONS, jobId: randomUUID() });
  return job.id!;
}
