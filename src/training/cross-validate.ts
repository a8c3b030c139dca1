import { z } from 'zod';
import { encodeFeatures, rowsWithTarget } from '../data/preprocessing';
import { columnValues, type Table } from '../data/table';
import { classificationMetrics } from '../evaluation/classification-metrics';
import { stratifiedFolds } from '../evaluation/folds';
import { regressionMetrics } from '../evaluation/regression-metrics';
import { runFrozen } from '../ml/frozen-model';
import { Rng } from '../random';
import { crossValidationResultSchema, type CrossValidationResult } from '../schemas/evaluation.schema';
import type { TrainingRequest } from '../schemas/training-request.schema';
import {
  splitRows,
  trainFromRequest,
  type Split,
  type TrainingHooks,
  type TrainingOutcome,
} from './train-from-request';

/**
 * k-fold cross-validation of a request (`validation.folds`). The rows outside the request's test
 * split (the same test rows as the kept model's, from the same seed) are dealt into k stratified
 * folds; for each fold a model is trained on the other folds — preprocessing fitted on them,
 * early stopping on the fold itself — and evaluated on the fold. Every fold's model is
 * discarded: the kept model is the one trained on the request's own train/validation split, and
 * the folds are the estimate of how such a model generalizes (mean ± sd across folds, and the
 * metrics of the out-of-fold predictions, every row predicted once by the model that did not
 * see it).
 *
 * Deterministic from the seed, fold by fold: the plan, each fold's training and its outcome
 * depend on nothing else, so the folds can run in different processes (the training queue runs
 * each as a child job of the request's job, jobs/train-model.processor.ts) and be combined in a
 * third with the same figures as when they run one after the other here.
 */

/** The folds of a request: positions into the rows with a target. */
export interface FoldPlan {
  k: number;
  /** The rows with a target (table row indices). */
  rows: Int32Array;
  /** Positions (into rows) of every row outside the test split, in the order the folds index. */
  pool: Int32Array;
  /** The target of each pool entry, as a string (the stratification labels). */
  labels: string[];
  /** Indices into pool, one list per fold. */
  folds: Int32Array[];
}

export function planFolds(request: TrainingRequest, table: Table, seed: number): FoldPlan {
  const k = request.validation!.folds;
  const rows = rowsWithTarget(table, request.target);
  const { test } = splitRows(request, table, rows, new Rng(seed));
  const heldOut = new Set(test);
  const pool = Int32Array.from({ length: rows.length }, (_, i) => i).filter((p) => !heldOut.has(p));
  const targets = columnValues(table, request.target);
  const labels = Array.from(pool, (p) => String(targets[rows[p]]));
  const folds = stratifiedFolds(request.task === 'classification' ? labels : pool.length, k, new Rng(seed + 1));
  return { k, rows, pool, labels, folds };
}

/** Each fold's run: its own split, nothing asked of the evaluation but the figures. */
export function foldRequest(request: TrainingRequest): TrainingRequest {
  return { ...request, validation: undefined, evaluation: { calibration: 'none', threshold: 'default' } };
}

/** Fold `f` (0-based): trained on the other folds, validated (and early-stopped) on itself. */
export function foldSplit(plan: FoldPlan, f: number): Split {
  const inFold = new Set(plan.folds[f]);
  return {
    train: Int32Array.from(plan.pool.filter((_, i) => !inFold.has(i))),
    validation: Int32Array.from(plan.folds[f], (i) => plan.pool[i]),
    test: new Int32Array(0),
  };
}

const perFoldSchema = crossValidationResultSchema.shape.perFold.element;

/**
 * What one fold contributes to the result: its row of the fold table, and its model's
 * predictions of its own rows (in the fold's order) for the out-of-fold metrics. A fold's classes
 * are those of its own training rows, so probabilities are kept by class label. The schema is
 * the Redis boundary: a fold run in another process is recorded as this, and parsed back.
 */
export const foldOutcomeSchema = z.object({
  perFold: perFoldSchema,
  outOfFold: z.discriminatedUnion('task', [
    z.object({ task: z.literal('regression'), predictions: z.array(z.number()) }),
    z.object({
      task: z.literal('classification'),
      labels: z.array(z.string()),
      probabilities: z.array(z.array(z.number())),
    }),
  ]),
});
export type FoldOutcome = z.infer<typeof foldOutcomeSchema>;

/** The outcome of fold `f` from its completed training run. */
export function foldOutcome(plan: FoldPlan, f: number, table: Table, outcome: TrainingOutcome): FoldOutcome {
  const { train, validation } = foldSplit(plan, f);
  const keptEpoch = outcome.restoredBestWeights ? outcome.bestEpoch! : outcome.metrics.length;
  const perFold: FoldOutcome['perFold'] = {
    fold: f + 1,
    rows: { train: train.length, validation: validation.length },
    epochsRun: outcome.metrics.length,
    ...(outcome.bestEpoch !== undefined ? { bestEpoch: outcome.bestEpoch } : {}),
    valLoss: outcome.metrics[keptEpoch - 1].valLoss!,
    metrics: outcome.evaluation!.validation!,
  };
  const target = outcome.preprocessing.target;
  const out = runFrozen(
    outcome.frozen,
    encodeFeatures(
      outcome.preprocessing,
      table,
      Array.from(validation, (p) => plan.rows[p]),
    ),
    validation.length,
  );
  if (target.task === 'regression') {
    return {
      perFold,
      outOfFold: { task: 'regression', predictions: Array.from(out, (v) => v * target.std + target.mean) },
    };
  }
  const width = target.classes.length;
  return {
    perFold,
    outOfFold: {
      task: 'classification',
      labels: target.classes.map(String),
      probabilities: Array.from(validation, (_, r) => Array.from(out.subarray(r * width, (r + 1) * width))),
    },
  };
}

/** The result from every fold's outcome (`outcomes[f]` is fold f's): per fold, mean ± sd, out of fold. */
export function combineFolds(
  request: TrainingRequest,
  table: Table,
  plan: FoldPlan,
  outcomes: FoldOutcome[],
): CrossValidationResult {
  const { pool, rows, labels, folds } = plan;
  const perFold = outcomes.map((o) => o.perFold);
  const result: CrossValidationResult = {
    folds: plan.k,
    rows: pool.length,
    keptModel: 'split',
    perFold,
    summary: summarize(perFold),
  };
  if (request.task === 'regression') {
    const targets = columnValues(table, request.target);
    const predictions = new Float64Array(pool.length);
    outcomes.forEach(({ outOfFold }, f) => {
      if (outOfFold.task !== 'regression') throw new Error(`fold ${f + 1}: a classification outcome`);
      folds[f].forEach((i, r) => (predictions[i] = outOfFold.predictions[r]));
    });
    result.outOfFold = regressionMetrics(
      Float64Array.from(pool, (p) => Number(targets[rows[p]])),
      predictions,
    );
    return result;
  }
  // Every label of the pool, sorted as strings; probabilities of a class a fold never saw are 0.
  const classes = [...new Set(labels)].sort();
  const index = new Map(classes.map((c, i) => [c, i]));
  const flat = new Float64Array(pool.length * classes.length);
  outcomes.forEach(({ outOfFold }, f) => {
    if (outOfFold.task !== 'classification') throw new Error(`fold ${f + 1}: a regression outcome`);
    folds[f].forEach((i, r) =>
      outOfFold.labels.forEach(
        (label, c) => (flat[i * classes.length + index.get(label)!] = outOfFold.probabilities[r][c]),
      ),
    );
  });
  result.outOfFoldClasses = classes;
  result.outOfFold = classificationMetrics(
    Int32Array.from(labels, (l) => index.get(l)!),
    flat,
    classes.length,
  );
  return result;
}

/**
 * Every fold one after the other in this process (the library path; the service spreads the
 * folds over its workers). Returns undefined when `shouldStop` ended a fold.
 */
export async function crossValidate(
  request: TrainingRequest,
  table: Table,
  seed: number,
  shouldStop?: TrainingHooks['shouldStop'],
): Promise<CrossValidationResult | undefined> {
  const plan = planFolds(request, table, seed);
  const outcomes: FoldOutcome[] = [];
  for (let f = 0; f < plan.k; f++) {
    const outcome = await trainFromRequest(foldRequest(request), table, seed, {
      split: foldSplit(plan, f),
      shouldStop,
    });
    if (outcome.status === 'stopped') return undefined;
    outcomes.push(foldOutcome(plan, f, table, outcome));
  }
  return combineFolds(request, table, plan, outcomes);
}

/** Mean and sample standard deviation across the folds of every number the folds' metrics have. */
function summarize(perFold: CrossValidationResult['perFold']): CrossValidationResult['summary'] {
  const values = new Map<string, number[]>();
  const add = (key: string, value: unknown) => {
    if (typeof value !== 'number') return;
    if (!values.has(key)) values.set(key, []);
    values.get(key)!.push(value);
  };
  for (const fold of perFold) {
    add('valLoss', fold.valLoss);
    add('epochsRun', fold.epochsRun);
    if (fold.bestEpoch !== undefined) add('bestEpoch', fold.bestEpoch);
    for (const [key, value] of Object.entries(fold.metrics)) if (key !== 'rows' && key !== 'threshold') add(key, value);
  }
  const summary: CrossValidationResult['summary'] = {};
  for (const [key, list] of values) {
    const mean = list.reduce((a, b) => a + b, 0) / list.length;
    const sd = list.length > 1 ? Math.sqrt(list.reduce((s, v) => s + (v - mean) ** 2, 0) / (list.length - 1)) : 0;
    summary[key] = { mean, sd, folds: list.length };
  }
  return summary;
}
