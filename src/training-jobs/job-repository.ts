import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError } from '../errors';
import { cancelledWaitingView, type CancelledWaitingView } from '../training/job-view';
import { apiState, FOLD_JOB_NAME, foldJobId, type TrainingJobData, type TrainingJobResult } from './contract';
import { findJob } from './find-job';
import { cancelKey, cancelledJobKey, metricsKey } from './keys';

export type TrainingJob = Job<TrainingJobData, TrainingJobResult>;

/** A job still in the queue, with its BullMQ state. */
export interface QueuedJob {
  job: TrainingJob;
  state: string;
}

/**
 * What DELETE keeps of a waiting job it removed from the queue: the job as GET shows it, and its
 * data (request and seed) for the report. Records written before the data was kept hold the
 * view alone; they read with `data` undefined.
 */
export interface CancelledWaitingJob {
  view: CancelledWaitingView;
  data?: TrainingJobData;
}

/** One job as every reader sees it: in the queue (with its metrics), or cancelled while waiting. */
export type StoredJob =
  ({ kind: 'queued'; rawMetrics: string[] } & QueuedJob) | ({ kind: 'cancelled-waiting' } & CancelledWaitingJob);

export interface TrainingJobRepositoryDeps {
  queue: Queue<TrainingJobData, TrainingJobResult>;
  redis: Redis;
  prefix: string;
  /** How long the cancel flag and the record of a cancelled waiting job are kept. */
  keepSeconds: number;
}

/**
 * Reading and cancelling one training job, written once: the queue's job, the record of a
 * waiting job DELETE removed, and the job's metrics list. GET, /events, /report and /curves.svg
 * read through it, so a job cancelled while waiting reads `cancelled` on every one of them.
 */
export class TrainingJobRepository {
  constructor(private readonly deps: TrainingJobRepositoryDeps) {}

  /** The queue's job, unless it is one of a cross-validated job's folds (its inner work, not a job of the API). */
  private async find(jobId: string): Promise<TrainingJob | undefined> {
    const job = await findJob(this.deps.queue, jobId);
    return job?.name === FOLD_JOB_NAME ? undefined : job;
  }

  /** The job if it is still in the queue, with its BullMQ state. */
  async queued(jobId: string): Promise<QueuedJob | null> {
    const job = await this.find(jobId);
    if (!job) return null;
    return { job, state: await job.getState() };
  }

  /** The job's per-epoch metrics entries as stored (JSON strings), oldest first. */
  rawMetrics(jobId: string): Promise<string[]> {
    return this.deps.redis.lrange(metricsKey(this.deps.prefix, jobId), 0, -1);
  }

  /** The record of a waiting job removed by DELETE, or null. */
  async cancelledWaiting(jobId: string): Promise<CancelledWaitingJob | null> {
    const raw = await this.deps.redis.get(cancelledJobKey(this.deps.prefix, jobId));
    if (!raw) return null;
    const stored = JSON.parse(raw) as CancelledWaitingJob | CancelledWaitingView;
    return 'view' in stored ? stored : { view: stored };
  }

  /** The job wherever it is; null when there is no such job (never was, or expired). */
  async read(jobId: string): Promise<StoredJob | null> {
    const job = await this.find(jobId);
    if (!job) {
      const cancelled = await this.cancelledWaiting(jobId);
      return cancelled ? { kind: 'cancelled-waiting', ...cancelled } : null;
    }
    // The state first, then what it implies: a job that finished after it was fetched is fetched
    // again (else a "failed" job reads without its failedReason, a "completed" one without its
    // return value), and the metrics are read after the state, so a finished job's list is whole.
    const state = await job.getState();
    const current = (state === 'completed' || state === 'failed') && !job.finishedOn ? await this.find(jobId) : job;
    const rawMetrics = await this.rawMetrics(jobId);
    return { kind: 'queued', job: current ?? job, state, rawMetrics };
  }

  /** Whether a job reads at all (in the queue, or cancelled while waiting). */
  async exists(jobId: string): Promise<boolean> {
    if (await this.find(jobId)) return true;
    return (await this.deps.redis.exists(cancelledJobKey(this.deps.prefix, jobId))) === 1;
  }

  /**
   * Cancels a job from any API replica: a waiting job is removed from the queue, leaving its
   * record ("cancelled"); an active one sees the cancel flag after its current batch and stops
   * ("cancelling"; the processor fails it with CANCELLED_REASON). JOB_NOT_FOUND, or JOB_FINISHED
   * for a job that has already finished.
   *
   * A cross-validated job's folds go with it: BullMQ removes a waiting job with its children
   * (while none of them runs); otherwise its waiting folds are removed here and its running ones
   * stop at the job's flag after their current batch, and the job, woken when its last fold has
   * ended, sees the flag and ends cancelled.
   */
  async cancel(jobId: string): Promise<'cancelled' | 'cancelling'> {
    const { redis, prefix, keepSeconds } = this.deps;
    const recordKey = cancelledJobKey(prefix, jobId);
    const job = await this.find(jobId);
    if (!job) {
      if (await redis.exists(recordKey)) return 'cancelled';
      throw new AppError('JOB_NOT_FOUND', { id: jobId });
    }
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') {
      throw new AppError('JOB_FINISHED', { id: jobId, state: apiState(state, job.failedReason) });
    }
    // The flag first: if the job turns active meanwhile, the worker still sees it.
    await redis.set(cancelKey(prefix, jobId), '1', 'EX', keepSeconds);
    if (state !== 'active') {
      // The record first, so whoever sees the job disappear can already read why.
      const record: CancelledWaitingJob = { view: cancelledWaitingView(job), data: job.data };
      await redis.set(recordKey, JSON.stringify(record), 'EX', keepSeconds);
      try {
        await job.remove();
        return 'cancelled';
      } catch {
        // It became active (locked) between the two calls, or one of its folds runs: the flag stops them.
        await redis.del(recordKey);
      }
    }
    await this.removeWaitingFolds(job);
    return 'cancelling';
  }

  /** The folds of a cross-validated job that no worker has started (their ids are fixed). */
  private async removeWaitingFolds(job: TrainingJob): Promise<void> {
    const folds = job.data.request.validation?.folds ?? 0;
    for (let index = 0; index < folds; index++) {
      const fold = await findJob(this.deps.queue, foldJobId(job.id!, index));
      if (!fold || ['active', 'completed', 'failed'].includes(await fold.getState())) continue;
      // A fold that turned active meanwhile is locked and stays: it stops at the flag.
      await fold.remove().catch(() => undefined);
    }
  }
}
