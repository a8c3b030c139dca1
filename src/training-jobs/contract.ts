import { z } from 'zod';
import type { SparsityReport } from '../ml/sparsity';
import { jobStateSchema } from '../schemas/api.schema';
import type { CrossValidationResult, EvaluationResult } from '../schemas/evaluation.schema';
import { trainingRequestSchema } from '../schemas/training-request.schema';
import type { Diagnosis } from '../training/diagnosis';
import type { EvaluationMetrics } from '../training/train-from-request';

/**
 * The training job's contract: what the API stores in a job, what the worker returns, and how
 * BullMQ's states read in the API. Both sides (routes/, jobs/) and every reader below them
 * (views, report, event stream, metrics, sweeps) import it from here; jobs/ only wires BullMQ.
 */

/**
 * The data of a training job: the validated request, and the seed fixed at enqueue time (the
 * request's own training.seed range). The one source of the type: the enqueue helpers build it,
 * the processor parses `job.data` with it again.
 */
export const trainingJobDataSchema = z.object({
  request: trainingRequestSchema,
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1),
  /**
   * Set on a fold of a cross-validated job (FOLD_JOB_NAME): a child job of the request's own
   * job, with the parent's request and seed, that trains and records fold `index` (0-based).
   */
  fold: z.object({ parentId: z.string(), index: z.number().int().min(0) }).optional(),
});
export type TrainingJobData = z.infer<typeof trainingJobDataSchema>;

/**
 * The folds of a job with `validation.folds` are BullMQ child jobs of it in the training queue,
 * under this name and fixed ids, so that every training worker shares them. They are the job's
 * inner work, not jobs of the API: the repository does not read them as training jobs.
 */
export const FOLD_JOB_NAME = 'fold';

/** Fold `index` (0-based) of a job: one id per fold, so BullMQ adds it once. */
export function foldJobId(parentId: string, index: number): string {
  return `${parentId}-fold${index + 1}`;
}

/**
 * What a fold job returns to BullMQ; its figures are in the parent's fold records
 * (src/training-jobs/fold-records.ts). `recorded` is false when an earlier attempt had recorded
 * the fold already (a retry after a crash between the record and the completion).
 */
export interface FoldJobResult {
  parentId: string;
  fold: number;
  recorded: boolean;
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
  /** Metrics, calibration, threshold and importance of the kept model (README, "Evaluation"). */
  evaluation?: EvaluationResult;
  /** With validation.folds: per fold, mean ± sd, out-of-fold metrics. */
  crossValidation?: CrossValidationResult;
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

/** The failure reason of a job stopped by DELETE; the API reports such a job as `cancelled`. */
export const CANCELLED_REASON = 'cancelled by request';

/** A job's state as the API reports it: the response schema's enum. */
export type ApiJobState = z.infer<typeof jobStateSchema>;

/**
 * BullMQ has more states than the API promises: a delayed retry or a prioritized job is still
 * waiting to run, and a job stopped by DELETE failed with the cancellation reason.
 */
export function apiState(state: string, failedReason?: string): ApiJobState {
  switch (state) {
    case 'active':
    case 'completed':
      return state;
    case 'failed':
      return failedReason === CANCELLED_REASON ? 'cancelled' : 'failed';
    default:
      return 'waiting';
  }
}
