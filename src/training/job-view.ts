import type { Job } from 'bullmq';
import type { TrainingJobData, TrainingJobResult } from '../../jobs/training-queue';
import type { EpochMetrics } from '../ml/trainer';

export type ApiJobState = 'waiting' | 'active' | 'completed' | 'failed';

/** BullMQ has more states than the API promises; a delayed retry is still waiting to run. */
export function apiState(state: string): ApiJobState {
  switch (state) {
    case 'active':
    case 'completed':
    case 'failed':
      return state;
    default:
      return 'waiting';
  }
}

/** The API's view of a training job. */
export function describeJob(
  job: Job<TrainingJobData, TrainingJobResult>,
  state: string,
  rawMetrics: string[],
) {
  const metrics = rawMetrics.map((raw) => JSON.parse(raw) as EpochMetrics);
  const progress = job.progress as { epoch?: number; epochs?: number } | number | undefined;
  const epochs = job.data.request.training.epochs;
  const epoch =
    typeof progress === 'object' && progress !== null && typeof progress.epoch === 'number'
      ? progress.epoch
      : metrics.length;
  const result = job.returnvalue ?? undefined;
  const view = {
    jobId: job.id!,
    state: apiState(state),
    progress: { epoch, epochs },
    metrics,
    seed: job.data.seed,
    attempts: job.attemptsMade,
    createdAt: new Date(job.timestamp).toISOString(),
    ...(result ? { modelId: result.modelId, warnings: result.warnings } : {}),
    ...(job.finishedOn ? { finishedAt: new Date(job.finishedOn).toISOString() } : {}),
    ...(state === 'failed' && job.failedReason ? { error: job.failedReason } : {}),
  };
  return view;
}
