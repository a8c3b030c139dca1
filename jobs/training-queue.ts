import { randomUUID } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { Config } from '../src/config';
import { bullmqConnection } from '../src/store/redis';
import type { TrainingRequest } from '../src/schemas/training-request.schema';
import { trainingJobDataSchema, type TrainingJobData, type TrainingJobResult } from '../src/training-jobs/contract';

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
 * The API's side of the queue, on a fail-fast connection (src/store/redis.ts): an enqueue fails
 * at once (503) while Redis is away instead of hanging the request.
 */
export function createTrainingQueue(config: Config): Queue<TrainingJobData, TrainingJobResult> {
  return new Queue(TRAINING_QUEUE, {
    connection: bullmqConnection(config.redisUrl, 'fail-fast'),
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
  const data = trainingJobDataSchema.parse({ request, seed });
  const job = await queue.add('train', data, { jobId });
  return job.id!;
}
