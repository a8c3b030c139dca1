import { encodeFeatures, rowsWithTarget } from '../data/preprocessing';
import { columnValues, type Table } from '../data/table';
import { classificationMetrics } from '../evaluation/classification-metrics';
import { stratifiedFolds } from '../evaluation/folds';
import { regressionMetrics } from '../evaluation/regression-metrics';
import { runFrozen } from '../ml/frozen-model';
import { Rng } from '../random';
import type { CrossValidationResult } from '../schemas/evaluation.schema';
import type { TrainingRequest } from '../schemas/training-request.schema';
import { splitRows, trainFromRequest } from './train-from-request';

/**
 * k-fold cross-validation of a request (`validation.folds`), run after the kept model has
 * trained, in the same job. The rows outside the request's test split (the same test rows as
 * the kept model's, from the same seed) are dealt into k stratified folds; for each fold a model
 * is trained on the other folds — preprocessing fitted on them, early stopping on the fold
 * itself — and evaluated on the fold. Every fold's model is discarded: the kept model is the one
 * trained on the request's own train/validation split, and the folds are the estimate of how
 * such a model generalizes (mean ± sd across folds, and the metrics of the out-of-fold
 * predictions, every row predicted once by the model that did not see it).
 * Deterministic from the seed: a job taken over by another worker recomputes the same folds.
 * Returns undefined when `shouldStop` ended a fold.
 */
export async function crossValidate(
  request: TrainingRequest,
  table: Table,
  seed: number,
  shouldStop?: () => boolean | Promise<boolean>,
): Promise<CrossValidationResult | undefined> {
  const k = request.validation!.folds;
  const rows = rowsWithTarget(table, request.target);
  const { test } = splitRows(request, table, rows, new Rng(seed));
  const heldOut = new Set(test);
  const pool = Int32Array.from({ length: rows.length }, (_, i) => i).filter((p) => !heldOut.has(p));
  const targets = columnValues(table, request.target);
  const labels = Array.from(pool, (p) => String(targets[rows[p]]));
  const folds = stratifiedFolds(request.task === 'classification' ? labels : pool.length, k, new Rng(seed + 1));
  // Each fold's run: its own split, nothing asked of the evaluation but the figures.
  const foldRequest: TrainingRequest = {
    ...request,
    validation: undefined,
    evaluation: { calibration: 'none', threshold: 'default' },
  };
  const perFold: CrossValidationResult['perFold'] = [];
  // Out-of-fold: each row's prediction by the fold model that did not train on it. A fold's
  // classes are those of its own training rows, so probabilities are kept by class label.
  const oof = new Array<{ labels: string[]; probabilities: number[] }>(pool.length);
  const oofPredictions = new Float64Array(pool.length);
  for (let f = 0; f < k; f++) {
    const inFold = new Set(folds[f]);
    const validation = Int32Array.from(folds[f], (i) => pool[i]);
    const train = Int32Array.from(pool.filter((_, i) => !inFold.has(i)));
    const outcome = await trainFromRequest(foldRequest, table, seed, {
      split: { train, validation, test: new Int32Array(0) },
      shouldStop,
    });
    if (outcome.status === 'stopped') return undefined;
    const keptEpoch = outcome.restoredBestWeights ? outcome.bestEpoch! : outcome.metrics.length;
    perFold.push({
      fold: f + 1,
      rows: { train: train.length, validation: validation.length },
      epochsRun: outcome.metrics.length,
      ...(outcome.bestEpoch !== undefined ? { bestEpoch: outcome.bestEpoch } : {}),
      valLoss: outcome.metrics[keptEpoch - 1].valLoss!,
      metrics: outcome.evaluation!.validation!,
    });
    const target = outcome.preprocessing.target;
    const out = runFrozen(
      outcome.frozen,
      encodeFeatures(
        outcome.preprocessing,
        table,
        Array.from(validation, (p) => rows[p]),
      ),
      validation.length,
    );
    folds[f].forEach((i, r) => {
      if (target.task === 'regression') oofPredictions[i] = out[r] * target.std + target.mean;
      else {
        const width = target.classes.length;
        oof[i] = {
          labels: target.classes.map(String),
          probabilities: Array.from(out.subarray(r * width, (r + 1) * width)),
        };
      }
    });
  }
  const result: CrossValidationResult = {
    folds: k,
    rows: pool.length,
    keptModel: 'split',
    perFold,
    summary: summarize(perFold),
  };
  if (request.task === 'regression') {
    result.outOfFold = regressionMetrics(
      Float64Array.from(pool, (p) => Number(targets[rows[p]])),
      oofPredictions,
    );
  } else {
    // Every label of the pool, sorted as strings; probabilities of a class a fold never saw are 0.
    const classes = [...new Set(labels)].sort();
    const index = new Map(classes.map((c, i) => [c, i]));
    const flat = new Float64Array(pool.length * classes.length);
    oof.forEach(({ labels: known, probabilities }, i) =>
      known.forEach((label, c) => (flat[i * classes.length + index.get(label)!] = probabilities[c])),
    );
    result.outOfFoldClasses = classes;
    result.outOfFold = classificationMetrics(
      Int32Array.from(labels, (l) => index.get(l)!),
      flat,
      classes.length,
    );
  }
  return result;
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
