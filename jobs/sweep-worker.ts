import { Worker, type WorkerOptions } from 'bullmq';
import type { Config } from '../src/config';
import { bullmqConnection } from '../src/store/redis';
import completeSweep from './sweep.processor';
import type { SweepJobData, SweepJobResult } from '../src/training-jobs/sweep-contract';
import { SWEEP_QUEUE } from './sweep-queue';

/**
 * The worker that completes sweeps once their training jobs are done. Runs beside the training
 * worker (`npm run worker`, `npm start`); any number of them may run.
 */
export function createSweepWorker(
  config: Config,
  overrides: Partial<WorkerOptions> = {},
): Worker<SweepJobData, SweepJobResult> {
  return new Worker<SweepJobData, SweepJobResult>(SWEEP_QUEUE, completeSweep, {
    connection: bullmqConnection(config.redisUrl, 'blocking'),
    prefix: config.redisPrefix,
    concurrency: 4,
    ...overrides,
  });
}
