import { z } from 'zod';
import { jobStateSchema, VERDICTS } from '../schemas/api.schema';
import { crossValidationResultSchema } from '../schemas/evaluation.schema';
import { trainingRequestSchema } from '../schemas/training-request.schema';
import type { Diagnosis } from '../training/diagnosis';
import { runSummarySchema } from '../training/run-summary';

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

/** The diagnosis' shape, checked where it crosses a process boundary (the job's result). */
const diagnosisShape = z.looseObject({
  verdict: z.enum(VERDICTS),
  evidence: z.looseObject({}),
  suggestions: z.array(z.string()),
});

/**
 * What a finished training job reports of its run, in its result and in its model's meta
 * (src/store/model-store.ts): the run's summary, the backend it ran on, and what the job added
 * after the run (cross-validation, the diagnosis).
 */
export const trainingSummarySchema = runSummarySchema.extend({
  backend: z.string(),
  epochsRun: z.number().int().min(0),
  /** With validation.folds: per fold, mean ± sd, out-of-fold metrics. */
  crossValidation: crossValidationResultSchema.optional(),
  diagnosis: z.custom<Diagnosis>((value) => diagnosisShape.safeParse(value).success, { error: 'not a diagnosis' }),
});
export type TrainingSummary = z.infer<typeof trainingSummarySchema>;

/**
 * Where a training attempt's time went, in ms, summed over its epochs; clock times are epoch ms.
 * Measured by the sandboxed processor with a few clock reads per batch and per epoch.
 */
export const jobTimingsSchema = z.object({
  /** When the sandboxed training process started, and how many jobs it had run before (0: a fresh process). */
  processStartedAt: z.number(),
  jobsBefore: z.number().int(),
  /** When the processor function was entered. */
  enteredAt: z.number(),
  /** Entry to the first epoch's start: backend, dataset, checkpoint, split, preprocessing, network. */
  setupMs: z.number(),
  epochs: z.number().int(),
  /** The training steps of every batch (to the last batch's cancellation check). */
  stepMs: z.number(),
  /** Of stepMs: the cancellation checks between batches (a Redis round trip at most every 0.1 s). */
  cancelChecksMs: z.number(),
  /** The end-of-epoch metrics pass (inference-mode loss over the rows, norms, early stopping). */
  metricsMs: z.number(),
  /** The per-epoch checkpoint (serialized and written to Redis). */
  checkpointMs: z.number(),
  /** The per-epoch metrics entry and progress update. */
  publishMs: z.number(),
  /** After the last epoch: freeze, diagnosis, model save, checkpoint delete. */
  finishMs: z.number(),
});
export type JobTimings = z.infer<typeof jobTimingsSchema>;

/**
 * The result of a training job: the one source of the type. The processor builds it with this
 * schema, and parses a result saved by an earlier attempt with it again.
 */
export const trainingJobResultSchema = trainingSummarySchema.extend({
  modelId: z.string(),
  /** Epochs at which the job continued from a checkpoint after losing its worker. */
  resumedAt: z.array(z.number().int()),
  /** Where this attempt's time went (for the benchmark and debugging; not part of the API). */
  timings: jobTimingsSchema.optional(),
});
export type TrainingJobResult = z.infer<typeof trainingJobResultSchema>;

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
