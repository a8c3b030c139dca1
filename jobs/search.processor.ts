import { DelayedError, type Job } from 'bullmq';
import { coordinate, type CoordinatorDeps } from '../src/search/coordinator';
import type { SearchJobData } from './search-queue';

/** Between two coordinator passes (ms): a pruned trial stops at most this much later than it could. */
export const PASS_INTERVAL_MS = 100;

/**
 * The coordinator of one search: passes over its state (src/search/coordinator.ts) until every
 * trial has settled. When its worker closes, it hands the search back to the queue at once
 * (moveToDelayed) so another worker continues it; when its worker dies instead, the job's lock
 * lapses and BullMQ's stalled-job check does the same.
 */
export function searchProcessor(deps: CoordinatorDeps, closing: () => boolean) {
  return async (job: Job<SearchJobData>, token?: string): Promise<{ searchId: string }> => {
    const { searchId } = job.data;
    for (;;) {
      if ((await coordinate(deps, searchId)) === 'finished') return { searchId };
      if (closing()) {
        await job.moveToDelayed(Date.now() + PASS_INTERVAL_MS, token);
        throw new DelayedError();
      }
      await new Promise((resolve) => setTimeout(resolve, PASS_INTERVAL_MS));
    }
  };
}
