import { Queue, type JobsOptions } from 'bullmq';
import type { Config } from '../src/config';
import { bullmqConnection } from '../src/store/redis';

/**
 * Each search has one coordinator job in the "searches" queue, under the search's id. It runs
 * in a worker's own process (jobs/search.processor.ts: cheap, TensorFlow-free) and starts the
 * trials as ordinary training jobs on the training queue. Its state is in Redis
 * (src/search/search-store.ts), so when its worker dies BullMQ's stalled-job check hands the job
 * to another worker, which continues from there.
 */
export const SEARCH_QUEUE = 'searches';

export interface SearchJobData {
  searchId: string;
}

export function searchJobOptions(config: Config): JobsOptions {
  return {
    // A coordinator pass that throws (Redis away for a moment) is retried; the state is in Redis.
    attempts: 20,
    backoff: { type: 'exponential', delay: 1_000 },
    removeOnComplete: { age: config.jobKeepSeconds, count: config.jobKeepCompleted },
    removeOnFail: { age: config.jobKeepSeconds },
  };
}

/**
 * The API's side (made once per app by src/plugins/search-queue.ts); like the training queue,
 * fail-fast: an enqueue fails at once (503) while Redis is away.
 */
export function createSearchQueue(config: Config): Queue<SearchJobData> {
  return new Queue(SEARCH_QUEUE, {
    connection: bullmqConnection(config.redisUrl, 'fail-fast'),
    prefix: config.redisPrefix,
    defaultJobOptions: searchJobOptions(config),
  });
}

/** Adds the coordinator; BullMQ ignores a second add of the same id (an idempotent retry). */
export async function enqueueSearch(queue: Queue<SearchJobData>, searchId: string): Promise<void> {
  await queue.add('coordinate', { searchId }, { jobId: searchId });
}
