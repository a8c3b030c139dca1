import type { Job } from 'bullmq';
import { apiState, type TrainingJobResult } from '../src/training-jobs/contract';
import type { SweepJobData, SweepJobResult } from '../src/training-jobs/sweep-contract';
import { rankRows, sweepRow } from '../src/sweeps/sweep-table';
import { childKey } from './sweep-queue';

/**
 * The parent of a sweep runs once all its training jobs have finished (BullMQ moves it out of
 * waiting-children then). It ranks the runs from the results BullMQ kept in the parent, so the
 * table outlives the training jobs themselves. Cheap and TensorFlow-free: it runs in the
 * worker's own process, not sandboxed.
 */
export default async function completeSweep(job: Job<SweepJobData, SweepJobResult>): Promise<SweepJobResult> {
  const prefix = job.prefix;
  const [values, failures] = await Promise.all([
    job.getChildrenValues<TrainingJobResult>(),
    job.getIgnoredChildrenFailures(),
  ]);
  const rows = job.data.runs.map((run) => {
    const key = childKey(prefix, run.jobId);
    const result = values[key];
    if (result) return sweepRow(run, 'completed', result);
    const reason = failures[key];
    return sweepRow(run, apiState('failed', reason), undefined, reason ?? 'the training job finished without a result');
  });
  return { table: rankRows(rows) };
}
