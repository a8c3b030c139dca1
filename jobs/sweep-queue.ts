import { randomUUID } from 'node:crypto';
import { FlowProducer, Queue, type JobsOptions } from 'bullmq';
import type { Config } from '../src/config';
import { bullmqConnection } from '../src/store/redis';
import type { TrainingRequest } from '../src/schemas/training-request.schema';
import type { Combination } from '../src/sweeps/grid';
import { trainingJobDataSchema } from '../src/training-jobs/contract';
import type { Grid, SweepJobData, SweepJobResult } from '../src/training-jobs/sweep-contract';
import { TRAINING_QUEUE, trainingJobOptions } from './training-queue';

/**
 * Sweeps are BullMQ flows: a parent job in the "sweeps" queue whose children are ordinary
 * training jobs in the "training" queue, so they spread over every training worker. The parent
 * runs (jobs/sweep.processor.ts) once every child has finished, and ranks the runs.
 */
export const SWEEP_QUEUE = 'sweeps';

/** Parents are cheap; they keep their table as long as training jobs are kept. */
export function sweepJobOptions(config: Config): JobsOptions {
  return {
    attempts: 3,
    backoff: { type: 'exponential', delay: 1_000 },
    removeOnComplete: { age: config.jobKeepSeconds, count: config.jobKeepCompleted },
    removeOnFail: { age: config.jobKeepSeconds },
  };
}

/** The API's side: a FlowProducer to add sweeps and a Queue to read them back. */
export interface SweepQueues {
  flow: FlowProducer;
  queue: Queue<SweepJobData, SweepJobResult>;
}

/** Made once per app (src/plugins/sweep-queues.ts), beside the training queue, and closed with it. */
export function createSweepQueues(config: Config): SweepQueues {
  // Like the training queue: fail-fast, so an enqueue fails at once (503) while Redis is away.
  const connection = bullmqConnection(config.redisUrl, 'fail-fast');
  return {
    flow: new FlowProducer({ connection, prefix: config.redisPrefix }),
    queue: new Queue(SWEEP_QUEUE, { connection, prefix: config.redisPrefix }),
  };
}

/**
 * Adds the parent and one training job per combination, atomically. Each child's data is what
 * enqueueTraining stores: the request parsed again by the training schema, and the seed. A
 * child that fails for good does not fail the sweep: it is ignored as a dependency and listed
 * as failed in the table.
 */
export async function enqueueSweep(
  flow: FlowProducer,
  config: Config,
  base: TrainingRequest,
  grid: Grid,
  combinations: Combination[],
  seed: number,
): Promise<string> {
  const sweepId = randomUUID();
  const runs = combinations.map((c) => ({ jobId: randomUUID(), settings: c.settings }));
  const childOptions = trainingJobOptions(config);
  const data: SweepJobData = { base, grid, seed, runs };
  await flow.add({
    name: 'sweep',
    queueName: SWEEP_QUEUE,
    data,
    opts: { ...sweepJobOptions(config), jobId: sweepId },
    children: combinations.map((c, i) => {
      const child = trainingJobDataSchema.parse({ request: c.request, seed });
      return {
        name: 'train',
        queueName: TRAINING_QUEUE,
        data: child,
        opts: { ...childOptions, jobId: runs[i].jobId, ignoreDependencyOnFailure: true },
      };
    }),
  });
  return sweepId;
}

/** The key under which BullMQ records a child's result in its parent. */
export function childKey(prefix: string, jobId: string): string {
  return `${prefix}:${TRAINING_QUEUE}:${jobId}`;
}
