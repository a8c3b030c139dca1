import type { TrainingRequest } from '../schemas/training-request.schema';
import type { Diagnosis, Verdict } from '../training/diagnosis';
import type { ApiJobState, TrainingJobResult } from './contract';

/**
 * The sweep job's contract: a parent job whose children are ordinary training jobs (see
 * jobs/sweep-queue.ts for the BullMQ wiring). The parent's result is the ranked table.
 */

/**
 * A sweep's grid: a setting path → the values to try. A path names a field of the training
 * request with dots ("regularization.l2", "training.earlyStopping.patience"); "*" stands for
 * every element of an array ("model.hidden.*.dropout"), a number for one element
 * ("model.hidden.0.units"). The value null removes the field, so its default applies
 * ("training.earlyStopping": [null, {"patience": 3}] compares no early stopping with some).
 */
export type Grid = Record<string, unknown[]>;

/** One run of a sweep: its training job and the grid values it was given. */
export interface SweepRunRef {
  jobId: string;
  settings: Record<string, unknown>;
}

export interface SweepJobData {
  /** The base request as validated (defaults filled in). */
  base: TrainingRequest;
  grid: Grid;
  /** One seed for every run, so the runs differ only by their settings. */
  seed: number;
  runs: SweepRunRef[];
}

export interface SweepJobResult {
  /** Every run, best first: by validation loss of the kept model, ties by the smaller gap. */
  table: SweepRow[];
}

/**
 * One run of a sweep as the table shows it. Metrics are the kept model's (diagnosis evidence).
 * A type, not an interface, so it fits the response schema's open object.
 */
export type SweepRow = {
  /** 1 = best; only completed runs are ranked. */
  rank?: number;
  jobId: string;
  settings: Record<string, unknown>;
  state: ApiJobState;
  modelId?: string;
  verdict?: Verdict;
  valLoss?: number;
  trainLoss?: number;
  gap?: number;
  accuracy?: number;
  valAccuracy?: number;
  mae?: number;
  valMae?: number;
  testMetrics?: TrainingJobResult['testMetrics'];
  epochsRun?: number;
  bestEpoch?: number;
  stoppedEpoch?: number;
  diagnosis?: Diagnosis;
  error?: string;
};
