import { encodedFeatureNames, type Preprocessing } from '../data/preprocessing';
import { invalid } from '../errors';
import { applyTemperature, fitTemperature } from '../evaluation/calibration';
import { classificationMetrics, logLoss, reliability } from '../evaluation/classification-metrics';
import { chooseThreshold } from '../evaluation/decision-threshold';
import { permutationImportance, type ColumnGroup } from '../evaluation/permutation-importance';
import { regressionMetrics } from '../evaluation/regression-metrics';
import { disposeTfSteps, runFrozen, runTfSteps, uploadFrozen, type FrozenModel } from '../ml/frozen-model';
import type { EvaluationOptions, EvaluationResult } from '../schemas/evaluation.schema';

export interface ModelEvaluationInput {
  frozen: FrozenModel;
  preprocessing: Preprocessing;
  /** Every row's encoded features (rows × inputSize) and encoded target (class index or standardized). */
  x: Float32Array;
  y: Float32Array;
  validation: Int32Array;
  test: Int32Array;
  options: EvaluationOptions;
  seed: number;
}

/** The parts of the evaluation predict needs: the fitted temperature and the decision threshold. */
export interface ServingAdjustments {
  temperature?: number;
  threshold?: number;
}

/**
 * The kept model evaluated after training, through the frozen form predict serves (so the
 * figures are those of the served model): calibration fitted on the validation rows first, then
 * the decision threshold chosen on the calibrated validation probabilities, then the metrics of
 * the validation and test rows with both applied, then permutation importance.
 */
export function evaluateModel(input: ModelEvaluationInput): EvaluationResult {
  const { frozen, preprocessing, options } = input;
  const target = preprocessing.target;
  const result: EvaluationResult = {};
  if (target.task === 'regression') {
    const predictOf = (x: Float32Array, rows: number) =>
      Float64Array.from(runInSlices(frozen, x, rows), (v) => v * target.std + target.mean);
    const targetsOf = (rows: Int32Array) => Float64Array.from(rows, (r) => input.y[r] * target.std + target.mean);
    for (const set of ['validation', 'test'] as const) {
      const rows = input[set];
      if (rows.length > 0)
        result[set] = regressionMetrics(targetsOf(rows), predictOf(gather(input, rows), rows.length));
    }
    if (options.importance) {
      const rows = input[options.importance.rows];
      const truth = targetsOf(rows);
      result.importance = importance(
        input,
        rows,
        'mse',
        (x) => regressionMetrics(truth, predictOf(x, rows.length)).mse,
      );
    }
    return result;
  }

  const classes = target.classes.length;
  result.classes = target.classes;
  const labelsOf = (rows: Int32Array) => Int32Array.from(rows, (r) => input.y[r]);
  const rawOf = (x: Float32Array, rows: number) => Float64Array.from(runInSlices(frozen, x, rows));
  const raw = {
    validation:
      input.validation.length > 0 ? rawOf(gather(input, input.validation), input.validation.length) : undefined,
    test: input.test.length > 0 ? rawOf(gather(input, input.test), input.test.length) : undefined,
  };
  let temperature: number | undefined;
  if (options.calibration === 'temperature' && raw.validation) {
    const labels = labelsOf(input.validation);
    temperature = fitTemperature(labels, raw.validation, classes);
    const calibrated = applyTemperature(raw.validation, classes, temperature);
    result.calibration = {
      method: 'temperature',
      temperature,
      validationEce: {
        before: reliability(labels, raw.validation, classes).ece,
        after: reliability(labels, calibrated, classes).ece,
      },
      validationLogLoss: {
        before: logLoss(labels, raw.validation, classes),
        after: logLoss(labels, calibrated, classes),
      },
    };
    if (raw.test) {
      const testLabels = labelsOf(input.test);
      result.calibration.testEce = {
        before: reliability(testLabels, raw.test, classes).ece,
        after: reliability(testLabels, applyTemperature(raw.test, classes, temperature), classes).ece,
      };
    }
  }
  const probabilitiesOf = (p: Float64Array) =>
    temperature === undefined ? p : applyTemperature(p, classes, temperature);
  let threshold: number | undefined;
  if (options.threshold !== 'default' && classes !== 2) {
    throw invalid(
      'INVALID_TRAINING_REQUEST',
      `evaluation.threshold needs a binary target, and this one has ${classes} classes`,
    );
  }
  if (classes === 2) {
    if (typeof options.threshold === 'number') {
      threshold = options.threshold;
      result.threshold = { value: threshold, objective: 'fixed' };
    } else if (options.threshold !== 'default' && raw.validation) {
      threshold = chooseThreshold(labelsOf(input.validation), probabilitiesOf(raw.validation), options.threshold);
      result.threshold = { value: threshold, objective: options.threshold };
    } else {
      threshold = 0.5;
      result.threshold = { value: 0.5, objective: 'default' };
    }
  }
  for (const set of ['validation', 'test'] as const) {
    const p = raw[set];
    if (p) result[set] = classificationMetrics(labelsOf(input[set]), probabilitiesOf(p), classes, threshold);
  }
  if (options.importance) {
    const rows = input[options.importance.rows];
    const labels = labelsOf(rows);
    result.importance = importance(input, rows, 'logLoss', (x) =>
      logLoss(labels, probabilitiesOf(rawOf(x, rows.length)), classes),
    );
  }
  return result;
}

/** The fitted temperature and threshold of an evaluation, for predict. */
export function servingAdjustments(evaluation: EvaluationResult | undefined): ServingAdjustments {
  return {
    ...(evaluation?.calibration ? { temperature: evaluation.calibration.temperature } : {}),
    ...(evaluation?.threshold ? { threshold: evaluation.threshold.value } : {}),
  };
}

function importance(
  input: ModelEvaluationInput,
  rows: Int32Array,
  loss: 'logLoss' | 'mse',
  lossOf: (x: Float32Array) => number,
): NonNullable<EvaluationResult['importance']> {
  const repeats = input.options.importance!.repeats;
  const found = permutationImportance({
    x: gather(input, rows),
    rows: rows.length,
    inputSize: input.preprocessing.inputSize,
    groups: columnGroups(input.preprocessing),
    loss: lossOf,
    repeats,
    seed: input.seed,
  });
  return {
    rows: input.options.importance!.rows,
    loss,
    baselineLoss: found.baselineLoss,
    repeats,
    columns: found.columns,
  };
}

/** Each input column's encoded values: one for a numeric column, its one-hot group for a categorical one. */
export function columnGroups(preprocessing: Preprocessing): ColumnGroup[] {
  const groups: ColumnGroup[] = [];
  encodedFeatureNames(preprocessing).forEach(({ column }, i) => {
    const last = groups[groups.length - 1];
    if (last?.column === column) last.width++;
    else groups.push({ column, start: i, width: 1 });
  });
  return groups;
}

/** Rows the frozen model runs on at once in the evaluation (the backend holds one slice's activations). */
export const EVALUATION_SLICE_ROWS = 8192;

/**
 * `runFrozen` a slice of EVALUATION_SLICE_ROWS rows at a time: every output row depends on its
 * own input row only, and the backend's memory (the wasm heap, which never shrinks) holds one
 * slice's activations instead of every held-out row's at once (≈ 200 MB for 460k rows).
 */
function runInSlices(frozen: FrozenModel, x: Float32Array, rows: number): Float32Array {
  if (rows <= EVALUATION_SLICE_ROWS) return runFrozen(frozen, x, rows);
  const width = x.length / rows;
  const steps = uploadFrozen(frozen);
  try {
    let out: Float32Array | undefined;
    for (let start = 0; start < rows; start += EVALUATION_SLICE_ROWS) {
      const end = Math.min(start + EVALUATION_SLICE_ROWS, rows);
      const part = runTfSteps(frozen, steps, x.subarray(start * width, end * width), end - start);
      out ??= new Float32Array(rows * (part.length / (end - start)));
      out.set(part, start * (part.length / (end - start)));
    }
    return out!;
  } finally {
    disposeTfSteps(steps);
  }
}

/** The rows' features: a view when they are consecutive (training from chunks' held-out rows), else a copy. */
function gather(input: ModelEvaluationInput, rows: Int32Array): Float32Array {
  const width = input.preprocessing.inputSize;
  const first = rows.length > 0 ? rows[0] : 0;
  if (rows.every((r, i) => r === first + i)) return input.x.subarray(first * width, (first + rows.length) * width);
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => out.set(input.x.subarray(r * width, (r + 1) * width), i * width));
  return out;
}
