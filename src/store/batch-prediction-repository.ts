import type { Job, Queue } from 'bullmq';
import { AppError } from '../errors';
import {
  batchPredictionProgressSchema,
  type BatchPredictionJobData,
  type BatchPredictionResult,
  type BatchPredictionView,
} from '../schemas/batch-prediction.schema';
import { apiState, CANCELLED_REASON } from '../training-jobs/contract';
import { findJob } from '../training-jobs/find-job';
import type { BatchPredictionStore } from './batch-prediction-store';

export type BatchPredictionJob = Job<BatchPredictionJobData, BatchPredictionResult>;

/**
 * Reading and cancelling one batch prediction from any API replica: the queue's job, or the
 * record DELETE left of one it removed while waiting. The cancellation protocol is the training
 * jobs' (TrainingJobRepository.cancel): the flag first, then a waiting job is removed (its record
 * kept) and an active one sees the flag between chunks and fails with CANCELLED_REASON.
 */
export class BatchPredictionRepository {
  constructor(
    private readonly queue: Queue<BatchPredictionJobData, BatchPredictionResult>,
    private readonly store: BatchPredictionStore,
  ) {}

  /** The batch as GET shows it; BATCH_PREDICTION_NOT_FOUND when there is none (never was, or expired). */
  async view(batchId: string): Promise<BatchPredictionView> {
    const job = await findJob(this.queue, batchId);
    if (!job) {
      const record = await this.store.cancelledRecord(batchId);
      if (record) return JSON.parse(record) as BatchPredictionView;
      throw new AppError('BATCH_PREDICTION_NOT_FOUND', { id: batchId });
    }
    const state = await job.getState();
    // A job that finished after it was fetched is fetched again, for its result or reason.
    const current =
      (state === 'completed' || state === 'failed') && !job.finishedOn ? await findJob(this.queue, batchId) : job;
    return describe(current ?? job, state);
  }

  /** A completed batch's data (what its results are read with); 404, or 409 for one not completed. */
  async completed(batchId: string): Promise<BatchPredictionJobData> {
    const view = await this.view(batchId);
    if (view.state !== 'completed')
      throw new AppError('BATCH_PREDICTION_NOT_COMPLETED', { id: batchId, state: view.state });
    const job = await findJob(this.queue, batchId);
    if (!job) throw new AppError('BATCH_PREDICTION_NOT_FOUND', { id: batchId });
    return job.data;
  }

  /** 'cancelled' (removed while waiting) or 'cancelling' (stops after its current chunk). */
  async cancel(batchId: string): Promise<'cancelled' | 'cancelling'> {
    const job = await findJob(this.queue, batchId);
    if (!job) {
      if (await this.store.cancelledRecord(batchId)) return 'cancelled';
      throw new AppError('BATCH_PREDICTION_NOT_FOUND', { id: batchId });
    }
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') {
      throw new AppError('BATCH_PREDICTION_FINISHED', { id: batchId, state: apiState(state, job.failedReason) });
    }
    await this.store.setCancelled(batchId);
    if (state !== 'active') {
      const record: BatchPredictionView = {
        ...describe(job, 'waiting'),
        state: 'cancelled',
        finishedAt: new Date().toISOString(),
      };
      await this.store.setCancelledRecord(batchId, JSON.stringify(record));
      try {
        await job.remove();
        return 'cancelled';
      } catch {
        // It became active (locked) between the two calls: the flag stops it.
        await this.store.deleteCancelledRecord(batchId);
      }
    }
    return 'cancelling';
  }
}

function describe(job: BatchPredictionJob, bullState: string): BatchPredictionView {
  const { data } = job;
  const state = apiState(bullState, job.failedReason);
  const stored = batchPredictionProgressSchema.safeParse(job.progress);
  const progress = stored.success ? stored.data : { chunksDone: 0, chunks: data.chunks, rowsDone: 0, rows: data.rows };
  const result = state === 'completed' ? job.returnvalue : undefined;
  return {
    batchId: job.id!,
    state,
    modelId: data.modelId,
    modelRef: data.modelRef,
    datasetId: data.datasetId,
    idColumns: data.idColumns,
    progress,
    createdAt: data.createdAt,
    ...(job.finishedOn && (state === 'completed' || state === 'failed' || state === 'cancelled')
      ? { finishedAt: new Date(job.finishedOn).toISOString() }
      : {}),
    ...(state === 'failed' && job.failedReason && job.failedReason !== CANCELLED_REASON
      ? { error: job.failedReason }
      : {}),
    ...(result?.resultDatasetId ? { resultDatasetId: result.resultDatasetId } : {}),
    ...(result?.resumedAt.length ? { resumedAt: result.resumedAt } : {}),
    ...(state === 'completed' ? { resultsUrl: `/v1/batch-predictions/${job.id}/results.csv` } : {}),
  };
}
