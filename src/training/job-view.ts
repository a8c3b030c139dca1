import type { Job } from 'bullmq';
import { apiState, type TrainingJobData, type TrainingJobResult } from '../training-jobs/contract';
import type { EpochMetrics } from '../schemas/api.schema';
import type { TrainingJobSummary } from '../schemas/training-job-list.schema';
import { readStoredMetrics } from './stored-metrics';

export type JobView = ReturnType<typeof describeJob>;

/** The API's view of a training job. */
export function describeJob(job: Job<TrainingJobData, TrainingJobResult>, state: string, rawMetrics: string[]) {
  return describeJobWithMetrics(job, state, readStoredMetrics(rawMetrics));
}

/** describeJob with the metrics already read (readStoredMetricsInSlices for a long list). */
export function describeJobWithMetrics(
  job: Job<TrainingJobData, TrainingJobResult>,
  state: string,
  metrics: EpochMetrics[],
) {
  const progress = job.progress as { epoch?: number; epochs?: number } | number | undefined;
  const epochs = job.data.request.training.epochs;
  const epoch =
    typeof progress === 'object' && progress !== null && typeof progress.epoch === 'number'
      ? progress.epoch
      : metrics.length;
  const result = job.returnvalue ?? undefined;
  const apiStateValue = apiState(state, job.failedReason);
  return {
    jobId: job.id!,
    state: apiStateValue,
    progress: { epoch, epochs },
    metrics,
    seed: job.data.seed,
    attempts: job.attemptsMade,
    createdAt: new Date(job.timestamp).toISOString(),
    ...(result
      ? {
          modelId: result.modelId,
          warnings: result.warnings,
          bestEpoch: result.bestEpoch,
          stoppedEpoch: result.stoppedEpoch,
          restoredBestWeights: result.restoredBestWeights,
          testMetrics: result.testMetrics,
          evaluation: result.evaluation,
          crossValidation: result.crossValidation,
          // Plain JSON from Redis; spread into records for the loosely described response schema.
          diagnosis: result.diagnosis ? { ...result.diagnosis } : undefined,
          sparsity: result.sparsity ? { ...result.sparsity } : undefined,
          resumedAt: result.resumedAt,
        }
      : {}),
    ...(job.finishedOn ? { finishedAt: new Date(job.finishedOn).toISOString() } : {}),
    ...(apiStateValue === 'failed' && job.failedReason ? { error: job.failedReason } : {}),
  };
}

export type CancelledWaitingView = ReturnType<typeof cancelledWaitingView>;

/** What is kept of a waiting job removed by DELETE, so GET can still say it was cancelled. */
export function cancelledWaitingView(job: Job<TrainingJobData, TrainingJobResult>) {
  return {
    jobId: job.id!,
    state: 'cancelled' as const,
    progress: { epoch: 0, epochs: job.data.request.training.epochs },
    metrics: [] as EpochMetrics[],
    seed: job.data.seed,
    attempts: job.attemptsMade,
    createdAt: new Date(job.timestamp).toISOString(),
    finishedAt: new Date().toISOString(),
  };
}

/** A job as GET /v1/training-jobs lists it: the fields of its full view that tell jobs apart. */
export function summarizeJob(view: JobView | CancelledWaitingView, datasetId: string | undefined): TrainingJobSummary {
  const full: Partial<JobView> = view;
  return {
    jobId: view.jobId,
    state: view.state,
    ...(datasetId !== undefined ? { datasetId } : {}),
    progress: view.progress,
    attempts: view.attempts,
    createdAt: view.createdAt,
    ...(view.finishedAt ? { finishedAt: view.finishedAt } : {}),
    ...(full.modelId ? { modelId: full.modelId } : {}),
    ...(full.error ? { error: full.error } : {}),
  };
}
