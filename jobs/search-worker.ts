import { Queue, Worker, type WorkerOptions } from 'bullmq';
import type { Config } from '../src/config';
import { AppError } from '../src/errors';
import { SearchStore } from '../src/search/search-store';
import type { TrialJobs } from '../src/search/coordinator';
import { bullmqConnection, createRedis } from '../src/store/redis';
import type { TrainingJobData, TrainingJobResult } from '../src/training-jobs/contract';
import { TrainingJobRepository } from '../src/training-jobs/job-repository';
import { searchProcessor } from './search.processor';
import { SEARCH_QUEUE, type SearchJobData } from './search-queue';
import { enqueueTraining, TRAINING_QUEUE, trainingJobOptions } from './training-queue';

/**
 * The worker that runs search coordinators, beside the training worker (`npm run worker`,
 * `npm start`). It owns its Redis client and training queue and closes them with itself.
 */
export function createSearchWorker(config: Config, overrides: Partial<WorkerOptions> = {}): Worker<SearchJobData> {
  const redis = createRedis(config.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined);
  // A worker's connection, not the API's: commands wait for Redis rather than fail at once, so a
  // pass right after start-up or during a blip does not fail for it.
  const training = new Queue<TrainingJobData, TrainingJobResult>(TRAINING_QUEUE, {
    connection: bullmqConnection(config.redisUrl, 'blocking'),
    prefix: config.redisPrefix,
    defaultJobOptions: trainingJobOptions(config),
  });
  training.on('error', () => undefined);
  const repository = new TrainingJobRepository({
    queue: training,
    redis,
    prefix: config.redisPrefix,
    keepSeconds: config.jobKeepSeconds,
  });
  const jobs = trialJobs(training, repository);
  const store = new SearchStore(redis, config.redisPrefix, config.jobKeepSeconds);
  let closing = false;
  const worker = new Worker<SearchJobData>(
    SEARCH_QUEUE,
    searchProcessor({ store, jobs }, () => closing),
    {
      connection: bullmqConnection(config.redisUrl, 'blocking'),
      prefix: config.redisPrefix,
      concurrency: 16,
      lockDuration: config.jobLockMs,
      stalledInterval: config.jobStalledIntervalMs,
      // Losing its worker is expected of a coordinator; every loss is a stall.
      maxStalledCount: 100,
      ...overrides,
    },
  );
  worker.on('closing', () => (closing = true));
  worker.on('closed', () => {
    void training.close().catch(() => undefined);
    redis.disconnect();
  });
  return worker;
}

/** The coordinator's view of the training queue: add a trial's job, read it, cancel it. */
export function trialJobs(
  training: Queue<TrainingJobData, TrainingJobResult>,
  repository: TrainingJobRepository,
): TrialJobs {
  return {
    start: async (jobId, request, seed) => {
      await enqueueTraining(training, request, seed, jobId);
    },
    read: (jobId) => repository.read(jobId),
    cancel: async (jobId) => {
      try {
        await repository.cancel(jobId);
      } catch (error) {
        // Finished or gone already: nothing to stop.
        if (!(error instanceof AppError && (error.code === 'JOB_FINISHED' || error.code === 'JOB_NOT_FOUND')))
          throw error;
      }
    },
  };
}
