import { randomUUID } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { Config } from '../src/config';
import type { SparsityReport } from '../src/ml/sparsity';
import type { Diagnosis } from '../src/training/diagnosis';
import type { EvaluationMetrics } from '../src/training/train-from-request';
import { trainingRequestSchema, type TrainingRequest } from '../src/schemas/training-request.schema';

export const TRAINING_QUEUE = 'training';

/** The data of a training job: the validated request, and the seed fixed at enqueue time. */
export interface TrainingJobData {
  request: TrainingRequest;
  seed: number;
}

export interface TrainingJobResult {
  modelId: string;
  epochsRun: number;
  seed: number;
  backend: string;
  warnings: string[];
  bestEpoch?: number;
  stoppedEpoch?: number;
  restoredBestWeights: boolean;
  testMetrics?: EvaluationMetrics;
  diagnosis: Diagnosis;
  sparsity: SparsityReport;
  /** Epochs at which the job continued from a checkpoint after losing its worker. */
  resumedAt: number[];
  /** Where this attempt's time went (for the benchmark and debugging; not part of the API). */
  timings?: JobTimings;
}

/**
 * Where a training attempt's time went, in ms, summed over its epochs; clock times are epoch ms.
 * Measured by the sandboxed processor with a few clock reads per batch and per epoch.
 */
export interface JobTimings {
  /** When the sandboxed training process started, and how many jobs it had run before (0: a fresh process). */
  processStartedAt: number;
  jobsBefore: number;
  /** When the processor function was entered. */
  enteredAt: number;
  /** Entry to the first epoch's start: backend, dataset, checkpoint, split, preprocessing, network. */
  setupMs: number;
  epochs: number;
  /** The training steps of every batch (to the last batch's cancellation check). */
  stepMs: number;
  /** Of stepMs: the cancellation checks between batches (a Redis round trip at most every 0.1 s). */
  cancelChecksMs: number;
  /** The end-of-epoch metrics pass (inference-mode loss over the rows, norms, early stopping). */
  metricsMs: number;
  /** The per-epoch checkpoint (serialized and written to Redis). */
  checkpointMs: number;
  /** The per-epoch metrics entry and progress update. */
  publishMs: number;
  /** After the last epoch: freeze, diagnosis, model save, checkpoint delete. */
  finishMs: number;
}

/**
 * Transient failures (a lost connection, an out-of-memory GPU) retry with exponential backoff;
 * finished jobs are removed after a while so Redis memory stays bounded (models are kept apart).
 */
export function trainingJobOptions(config: Config): JobsOptions {
  return {
    attempts: config.jobAttempts,
    backoff: { type: 'exponential', delay: config.jobBackoffMs },
    removeOnComplete: { age: config.jobKeepSeconds, count: config.jobKeepCompleted },
    removeOnFail: { age: config.jobKeepSeconds },
  };
}

/**
 * The API's side of the queue. Its connection does not queue commands while Redis is away, so
 * an enqueue fails at once (503) instead of hanging the request, and it retries the connection
 * every 2 s at most (BullMQ's default backs off to 20 s, so enqueues would keep failing for up
 * to 20 s after Redis is back).
 */
export function createTrainingQueue(config: Config): Queue<TrainingJobData, TrainingJobResult> {
  const connection = {
    url: config.redisUrl,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 5_000,
    retryStrategy: (times: number) => Math.min(times * 200, 2_000),
  };
  return new Queue(TRAINING_QUEUE, {
    connection,
    prefix: config.redisPrefix,
    defaultJobOptions: trainingJobOptions(config),
  });
}

/** Per-epoch metrics of a job, one JSON entry per epoch, written by the worker. */
export function metricsKey(prefix: string, jobId: string): string {
  return `${prefix}:job:${jobId}:metrics`;
}

/** Set by DELETE /v1/training-jobs/:jobId on any API replica; the worker checks it every 0.1 s, between batches. */
export function cancelKey(prefix: string, jobId: string): string {
  return `${prefix}:job:${jobId}:cancel`;
}

/** What is kept of a waiting job that DELETE removed from the queue, so it still reads as cancelled. */
export function cancelledJobKey(prefix: string, jobId: string): string {
  return `${prefix}:job:${jobId}:cancelled`;
}

/** The failure reason of a job stopped by DELETE; the API reports such a job as `cancelled`. */
export const CANCELLED_REASON = 'cancelled by request';

export async function enqueueTraining(
  queue: Queue<TrainingJobData, TrainingJobResult>,
  request: TrainingRequest,
  seed: number,
  jobId: string = randomUUID(),
): Promise<string> {
  // Parsed again: the stored job data is exactly what the schema produces.
  const data: TrainingJobData = { request: trainingRequestSchema.parse(request), seed };
  const job = await queue.add('train', data, { jobId });
  return job.id!;
}
