import type { Job, JobType, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError } from '../errors';
import type { TrainingJobListQuery, TrainingJobSummary } from '../schemas/training-job-list.schema';
import { checkpointKey } from '../store/checkpoint-store';
import { cancelledWaitingView, describeJob, summarizeJob, type CancelledWaitingView } from '../training/job-view';
import {
  apiState,
  FOLD_JOB_NAME,
  foldJobId,
  type ApiJobState,
  type TrainingJobData,
  type TrainingJobResult,
} from './contract';
import { findJob } from './find-job';
import { cancelKey, cancelledJobKey, cancelledJobsIndexKey, crashKey, foldsKey, metricsKey } from './keys';

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

/** The BullMQ states each API state is read from (see apiState); a cancelled job may also be a record. */
const BULLMQ_TYPES: Record<ApiJobState, JobType[]> = {
  waiting: ['waiting', 'delayed', 'prioritized', 'waiting-children'],
  active: ['active'],
  completed: ['completed'],
  failed: ['failed'],
  cancelled: ['failed'],
};

/** A job found by the listing's scan: enough to filter and order it, before its page is read. */
interface ListedJob {
  jobId: string;
  state: ApiJobState;
  /** The BullMQ state it was found in; absent for the record of a job cancelled while waiting. */
  bullState?: JobType;
  timestamp: number;
  datasetId?: string;
  record?: CancelledWaitingJob;
}

/** What DELETE did: cancelled a waiting job, asked an active one to stop, or removed a finished one. */
export type DeleteOutcome = 'cancelled' | 'cancelling' | 'deleted';

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
      await redis
        .multi()
        .set(recordKey, JSON.stringify(record), 'EX', keepSeconds)
        .zadd(cancelledJobsIndexKey(prefix), Date.now(), jobId)
        .exec();
      try {
        await job.remove();
        return 'cancelled';
      } catch {
        // It became active (locked) between the two calls, or one of its folds runs: the flag stops them.
        await redis.multi().del(recordKey).zrem(cancelledJobsIndexKey(prefix), jobId).exec();
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

  /**
   * DELETE /v1/training-jobs/:jobId. A finished job (completed, failed or cancelled) is removed with
   * everything kept beside it (metrics, checkpoint, cancel flag, crash count, the record of a
   * job cancelled while waiting); its model stays. A waiting or active job is cancelled instead
   * (see cancel), so a second DELETE of a job the first one cancelled removes it. JOB_NOT_FOUND
   * for an unknown id, and for the loser of two DELETEs of the same finished job.
   */
  async delete(jobId: string): Promise<DeleteOutcome> {
    const { redis, prefix } = this.deps;
    const job = await this.find(jobId);
    if (!job) {
      if (!(await redis.exists(cancelledJobKey(prefix, jobId)))) throw new AppError('JOB_NOT_FOUND', { id: jobId });
      await this.deleteJobKeys(jobId);
      return 'deleted';
    }
    const state = await job.getState();
    if (state !== 'completed' && state !== 'failed') return this.cancel(jobId);
    try {
      await job.remove();
    } catch (error) {
      // BullMQ refuses to remove a job that is gone (another DELETE, or the retention) or locked.
      if (!(await this.find(jobId))) throw new AppError('JOB_NOT_FOUND', { id: jobId });
      throw error;
    }
    await this.deleteJobKeys(jobId);
    return 'deleted';
  }

  private async deleteJobKeys(jobId: string): Promise<void> {
    const { redis, prefix } = this.deps;
    await redis
      .multi()
      .del(
        metricsKey(prefix, jobId),
        checkpointKey(prefix, jobId),
        cancelKey(prefix, jobId),
        cancelledJobKey(prefix, jobId),
        crashKey(prefix, jobId),
        foldsKey(prefix, jobId),
      )
      .zrem(cancelledJobsIndexKey(prefix), jobId)
      .exec();
  }

  /**
   * The jobs that match the filters, newest first (by creation; ties by id), `limit` from `offset`,
   * and how many match. A scan of the kept jobs of the states asked for (their ids, then three
   * fields of each), so its cost grows with the jobs kept (JOB_KEEP_SECONDS, JOB_KEEP_COMPLETED);
   * only the page's jobs are read whole. Not a snapshot: a job that changes state while the list
   * is read may be missed or listed under its previous state.
   */
  async list(query: TrainingJobListQuery): Promise<{ jobs: TrainingJobSummary[]; total: number }> {
    const states: ApiJobState[] = query.state
      ? [query.state]
      : ['waiting', 'active', 'completed', 'failed', 'cancelled'];
    const found = new Map<string, ListedJob>();
    for (const type of [...new Set(states.flatMap((state) => BULLMQ_TYPES[state]))]) {
      for (const listed of await this.scanType(type)) if (!found.has(listed.jobId)) found.set(listed.jobId, listed);
    }
    if (states.includes('cancelled')) {
      for (const listed of await this.scanCancelledWaiting())
        if (!found.has(listed.jobId)) found.set(listed.jobId, listed);
    }
    const matching = [...found.values()]
      .filter((job) => states.includes(job.state))
      .filter((job) => query.datasetId === undefined || job.datasetId === query.datasetId)
      .sort((a, b) => b.timestamp - a.timestamp || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0));
    const page = await Promise.all(
      matching.slice(query.offset, query.offset + query.limit).map((listed) => this.summary(listed)),
    );
    return { jobs: page.filter((job) => job !== null), total: matching.length };
  }

  /**
   * The jobs in one BullMQ state: their ids from BullMQ, then the creation time, the data and the
   * failure reason from each job's hash (queue.toKey(id), the fields BullMQ's JobJson names), in
   * one round trip, rather than each whole job with its result.
   */
  private async scanType(type: JobType): Promise<ListedJob[]> {
    const { queue, redis } = this.deps;
    const ids = await queue.getRanges([type], 0, -1);
    if (ids.length === 0) return [];
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hmget(queue.toKey(id), 'timestamp', 'data', 'failedReason', 'name');
    const replies = (await pipeline.exec()) ?? [];
    const listed: ListedJob[] = [];
    ids.forEach((jobId, i) => {
      const [error, fields] = replies[i] ?? [];
      const [timestamp, data, failedReason, name]: (string | null)[] = error ? [] : (fields as (string | null)[]);
      // Removed since its id was read, or a cross-validated job's fold (its inner work, not a job of the API).
      if (!timestamp || name === FOLD_JOB_NAME) return;
      listed.push({
        jobId,
        state: apiState(type, failedReason ?? undefined),
        bullState: type,
        timestamp: Number(timestamp),
        datasetId: datasetIdOf(data),
      });
    });
    return listed;
  }

  /** The records of the waiting jobs DELETE removed, through their index (expired ones are dropped from it). */
  private async scanCancelledWaiting(): Promise<ListedJob[]> {
    const { redis, prefix, keepSeconds } = this.deps;
    const index = cancelledJobsIndexKey(prefix);
    await redis.zremrangebyscore(index, '-inf', String(Date.now() - keepSeconds * 1000));
    const ids = await redis.zrange(index, '0', '-1');
    if (ids.length === 0) return [];
    const raws = await redis.mget(ids.map((id) => cancelledJobKey(prefix, id)));
    const listed: ListedJob[] = [];
    ids.forEach((jobId, i) => {
      const raw = raws[i];
      if (!raw) return;
      const stored = JSON.parse(raw) as CancelledWaitingJob | CancelledWaitingView;
      const record = 'view' in stored ? stored : { view: stored };
      listed.push({
        jobId,
        state: 'cancelled',
        timestamp: Date.parse(record.view.createdAt),
        datasetId: record.data?.request.datasetId,
        record,
      });
    });
    return listed;
  }

  /** A listed job read whole, as the listing shows it; null when it was removed meanwhile. */
  private async summary(listed: ListedJob): Promise<TrainingJobSummary | null> {
    if (listed.record) return summarizeJob(listed.record.view, listed.datasetId);
    const job = await this.find(listed.jobId);
    if (!job) return null;
    return summarizeJob(describeJob(job, listed.bullState ?? 'waiting', []), job.data.request.datasetId);
  }
}

/** The dataset of a job from its stored data (JSON), or undefined when it cannot be read. */
function datasetIdOf(data: string | null): string | undefined {
  if (!data) return undefined;
  try {
    const parsed = JSON.parse(data) as Partial<TrainingJobData>;
    return typeof parsed.request?.datasetId === 'string' ? parsed.request.datasetId : undefined;
  } catch {
    return undefined;
  }
}
