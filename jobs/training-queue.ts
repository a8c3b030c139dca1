import { randomUUID } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { Config } from '../src/config';
import { bullmqConnection } from '../src/store/redis';
import type { TrainingRequest } from '../src/schemas/training-request.schema';
import {
  FOLD_JOB_NAME,
  foldJobId,
  trainingJobDataSchema,
  type TrainingJobData,
  type TrainingJobResult,
} from '../src/training-jobs/contract';

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

/**
 * Adds folds `indices` (0-based) of a cross-validated job as its BullMQ children, in the training
 * queue, so that every training worker shares them (the parent trains its kept model meanwhile,
 * then waits for them in waiting-children without holding a worker). Each fold has a fixed job id:
 * BullMQ adds an id once, so an attempt that adds them again adds nothing. A fold that fails for
 * good does not fail the parent by itself: it is ignored as a dependency, and the parent, which
 * then has no record of that fold, fails saying which fold and why.
 */
export async function enqueueFolds(
  queue: Queue<TrainingJobData, TrainingJobResult>,
  config: Config,
  parent: { id: string; queueQualifiedName: string },
  data: TrainingJobData,
  indices: number[],
): Promise<void> {
  const options = trainingJobOptions(config);
  await queue.addBulk(
    indices.map((index) => ({
      name: FOLD_JOB_NAME,
      // Parsed again, as enqueueTraining does: the parent's request and seed, and the fold.
      data: trainingJobDataSchema.parse({
        request: data.request,
        seed: data.seed,
        fold: { parentId: parent.id, index },
      }),
      opts: {
        ...options,
        jobId: foldJobId(parent.id, index),
        parent: { id: parent.id, queue: parent.queueQualifiedName },
        ignoreDependencyOnFailure: true,
      },
    })),
  );
}
