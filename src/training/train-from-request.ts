import {
  encodeFeatures,
  encodeTargets,
  encodedFeatureNames,
  fitPreprocessing,
  rowsWithTarget,
  type Preprocessing,
} from '../data/preprocessing';
import { profileColumn, type ColumnProfile } from '../data/column-profile';
import { splitTrainValidation } from '../data/split';
import { columnInfo, columnValues, viewColumn, type Table, type TableView } from '../data/table';
import { invalid } from '../errors';
import type { FrozenModel } from '../ml/frozen-model';
import { balancedClassWeights } from '../ml/losses';
import { sparsityReport } from '../ml/sparsity';
import { Trainer, type EpochMetrics, type TrainerCheckpoint, type TrainingData } from '../ml/trainer';
import { Rng } from '../random';
import { batchStatisticsLayer, type TrainingRequest } from '../schemas/training-request.schema';
import { evaluateModel, type ModelEvaluationInput } from './evaluate-model';
import type { RunSummary } from './run-summary';
import { specWarnings } from './spec-warnings';
import { targetWarnings, unknownClassesMessage, type TargetFacts } from './trainable';

export interface TrainingHooks {
  /** Called after every completed epoch, before the next one starts. */
  onEpoch?(metrics: EpochMetrics, trainer: Trainer): Promise<void>;
  /** Consulted after every batch; true abandons the run. */
  shouldStop?: () => boolean | Promise<boolean>;
  /** A checkpoint to continue from instead of epoch 0. */
  resumeFrom?: TrainerCheckpoint;
  /** Train on this split (positions into the rows with a target) instead of the request's (cross-validation's folds). */
  split?: Split;
}

/** The run's outcome: its summary (run-summary.ts), and what the job needs to save and diagnose it. */
export interface TrainingOutcome extends RunSummary {
  status: 'completed' | 'stopped';
  preprocessing: Preprocessing;
  metrics: EpochMetrics[];
  frozen: FrozenModel;
  /** The loss of a predictor that ignores the inputs, to judge how high the training loss is. */
  baselineLoss: number;
  rows: { train: number; validation: number; test: number };
  /** The target column over the rows with a target, for the diagnosis (does it look continuous?). */
  target: TargetFacts;
}

/** A seed for requests that leave it out, recorded with the model so the run can be repeated. */
export function resolveSeed(request: TrainingRequest): number {
  return request.training.seed ?? Math.floor(Math.random() * 2 ** 31);
}

export interface Split {
  train: Int32Array;
  validation: Int32Array;
  test: Int32Array;
}

/**
 * Test rows first (held out from everything), then validation rows out of the rest; both
 * stratified by class for classification. Returns positions into `rows`.
 */
export function splitRows(request: TrainingRequest, table: TableView, rows: Int32Array, rng: Rng): Split {
  const { validationSplit, testSplit } = request.training;
  const target = viewColumn(table, request.target);
  const labelsOf = (positions: Int32Array) =>
    request.task === 'classification' ? Array.from(positions, (p) => String(target[rows[p]])) : positions.length;
  const all = Int32Array.from({ length: rows.length }, (_, i) => i);
  let rest = all;
  let test = new Int32Array(0);
  if (testSplit > 0) {
    const first = splitTrainValidation(labelsOf(all), testSplit, rng);
    rest = first.train.map((i) => all[i]);
    test = first.validation.map((i) => all[i]);
  }
  const second = splitTrainValidation(labelsOf(rest), validationSplit / (1 - testSplit), rng);
  return {
    train: second.train.map((i) => rest[i]),
    validation: second.validation.map((i) => rest[i]),
    test,
  };
}

/**
 * The whole training run for one request on one dataset: split, fit preprocessing on the training
 * rows only, train with the service's loop, freeze. Everything random derives from `seed`, so a
 * resumed run rebuilds exactly the same split and preprocessing.
 */
export async function trainFromRequest(
  request: TrainingRequest,
  table: Table,
  seed: number,
  hooks: TrainingHooks = {},
): Promise<TrainingOutcome> {
  const rows = rowsWithTarget(table, request.target);
  const targetProfile = profileColumn(columnInfo(table, request.target)!.type, columnValues(table, request.target));
  const rng = new Rng(seed);
  const split = hooks.split ?? splitRows(request, table, rows, rng);
  checkTrainingRows(request, split);
  const preprocessing = fitPreprocessing(
    table,
    request.target,
    request.task,
    split.train.map((p) => rows[p]),
    request.features.drop,
  );
  checkClassCount(request, preprocessing);
  const y = encodeTargets(preprocessing, table, rows);
  const x = encodeFeatures(preprocessing, table, rows);
  return runTraining(request, seed, hooks, rng, {
    preprocessing,
    y,
    split,
    targetProfile,
    data: { x },
    heldOut: async () => ({ x, y, validation: split.validation, test: split.test }),
  });
}

/** What a run trains on, however it was read: in memory (trainFromRequest) or in chunks (train-from-chunks.ts). */
export interface PreparedRun {
  preprocessing: Preprocessing;
  /** Every row's encoded target, by position (into the rows with a target). */
  y: Float32Array;
  split: Split;
  targetProfile: ColumnProfile;
  /** The encoded features: all in `x`, or a chunk at a time (then `x` is empty). */
  data: Pick<TrainingData, 'x' | 'chunks'>;
  /** The validation and test rows' encoded features and targets, for the evaluation of the kept model. */
  heldOut(trainer: Trainer): Promise<Pick<ModelEvaluationInput, 'x' | 'y' | 'validation' | 'test'>>;
}

/**
 * The run itself once the data is prepared: train with the service's loop, freeze, evaluate.
 * The trainer's seed is the next draw of `rng`, the stream the split was drawn from.
 */
export async function runTraining(
  request: TrainingRequest,
  seed: number,
  hooks: TrainingHooks,
  rng: Rng,
  prepared: PreparedRun,
): Promise<TrainingOutcome> {
  const { preprocessing, y, split, targetProfile } = prepared;
  const classes = preprocessing.target.task === 'classification' ? preprocessing.target.classes.length : 1;
  const classWeights = resolveClassWeights(request, preprocessing, y, split.train);
  const trainer = new Trainer(
    {
      task: request.task,
      ...prepared.data,
      y,
      inputSize: preprocessing.inputSize,
      outputSize: classes,
      trainRows: split.train,
      validationRows: split.validation,
      targetStd: preprocessing.target.task === 'regression' ? preprocessing.target.std : undefined,
      numericMask: numericMask(preprocessing),
    },
    {
      hidden: request.model.hidden,
      init: request.model.init,
      regularization: request.regularization,
      epochs: request.training.epochs,
      batchSize: request.training.batchSize,
      optimizer: request.training.optimizer,
      learningRate: request.training.learningRate,
      earlyStopping: request.training.earlyStopping,
      augmentation: request.augmentation,
      learningRateSchedule: request.training.learningRateSchedule,
      gradientClipping: request.training.gradientClipping,
      classWeights,
      labelSmoothing: request.training.labelSmoothing,
      // The trainer's own stream is separate from the split's, but from the same seed.
      seed: rng.seed(),
    },
  );
  try {
    if (hooks.resumeFrom) trainer.restore(hooks.resumeFrom);
    let status: TrainingOutcome['status'] = 'completed';
    while (!trainer.done) {
      const metrics = await trainer.runEpoch(hooks.shouldStop);
      if (!metrics) {
        status = 'stopped';
        break;
      }
      await hooks.onEpoch?.(metrics, trainer);
    }
    const restoredBestWeights = status === 'completed' && trainer.restoreBestWeights();
    // The served weights' own batch-norm statistics, not the running averages of earlier ones.
    if (status === 'completed') await trainer.recomputeBatchStatistics();
    const frozen = trainer.network.freeze();
    const evaluation =
      status === 'completed'
        ? evaluateModel({
            frozen,
            preprocessing,
            ...(await prepared.heldOut(trainer)),
            options: request.evaluation,
            seed,
          })
        : undefined;
    return {
      status,
      seed,
      preprocessing,
      metrics: trainer.metrics,
      frozen,
      ...(evaluation ? { evaluation } : {}),
      sparsity: sparsityReport(
        trainer.network,
        encodedFeatureNames(preprocessing).map((f) => f.label),
      ),
      warnings: [...specWarnings(request), ...targetWarnings(request, targetProfile)],
      bestEpoch: trainer.bestEpoch,
      stoppedEpoch: trainer.stoppedEpoch,
      restoredBestWeights,
      testMetrics: split.test.length > 0 ? await trainer.evaluateRows(split.test) : undefined,
      baselineLoss: baselineLoss(request.task, y, split.train, classes, classWeights),
      rows: { train: split.train.length, validation: split.validation.length, test: split.test.length },
      target: {
        type: targetProfile.type,
        rows: targetProfile.rows,
        distinct: targetProfile.distinct,
        nonInteger: targetProfile.nonInteger,
      },
    };
  } finally {
    trainer.dispose();
  }
}

/** Batch statistics need 2 training rows at least. */
export function checkTrainingRows(request: TrainingRequest, split: Split): void {
  const batchStatistics = batchStatisticsLayer(request.model.hidden);
  if (batchStatistics && split.train.length < 2) {
    throw invalid(
      'INVALID_TRAINING_REQUEST',
      `${batchStatistics} needs at least 2 training rows, and the split left ${split.train.length} ` +
        `(the variance of one row is 0); use more rows, a split of 0, or "layer" normalization`,
    );
  }
}

/** At most 4096 classes (checked before the targets are encoded). */
export function checkClassCount(request: TrainingRequest, preprocessing: Preprocessing): void {
  if (preprocessing.target.task === 'classification' && preprocessing.target.classes.length > 4096) {
    throw invalid('INVALID_TRAINING_REQUEST', `target "${request.target}" has more than 4096 classes`);
  }
}

function numericMask(preprocessing: Preprocessing): Float32Array {
  const mask: number[] = [];
  for (const feature of preprocessing.features) {
    if (feature.type === 'numeric') mask.push(1);
    else for (let i = 0; i < feature.categories.length; i++) mask.push(0);
  }
  return Float32Array.from(mask);
}

/**
 * The weight of each class index from training.classWeights, or undefined when it is off:
 * "balanced" from the training rows' class counts; an object by class label (labels compared as
 * strings, as JSON keys are), classes not listed weighing 1.
 */
function resolveClassWeights(
  request: TrainingRequest,
  preprocessing: Preprocessing,
  y: Float32Array,
  train: Int32Array,
): Float32Array | undefined {
  const spec = request.training.classWeights;
  if (spec === undefined || preprocessing.target.task !== 'classification') return undefined;
  const { classes } = preprocessing.target;
  if (spec === 'balanced') return balancedClassWeights(y, train, classes.length);
  const labels = classes.map(String);
  const unknown = Object.keys(spec).filter((label) => !labels.includes(label));
  if (unknown.length > 0) throw invalid('INVALID_TRAINING_REQUEST', unknownClassesMessage(unknown, labels));
  return Float32Array.from(labels, (label) => (Object.hasOwn(spec, label) ? spec[label] : 1));
}

/**
 * Classification: the cross-entropy of always predicting the training class frequencies (their
 * entropy); with class weights, the weighted cross-entropy of the best constant prediction,
 * which is the entropy of the weighted frequencies w_c·n_c / Σ w·n (log K for "balanced"), so
 * it compares with the weighted trainLoss. Regression: the mean squared error of always
 * predicting the training mean (the variance of the standardized target, about 1).
 */
function baselineLoss(
  task: TrainingRequest['task'],
  y: Float32Array,
  train: Int32Array,
  classes: number,
  classWeights?: Float32Array,
): number {
  const n = train.length;
  if (task === 'classification') {
    const mass = new Array<number>(classes).fill(0);
    for (const p of train) mass[y[p]] += classWeights ? classWeights[y[p]] : 1;
    const total = mass.reduce((a, b) => a + b, 0);
    return -mass.reduce((h, m) => (m > 0 ? h + (m / total) * Math.log(m / total) : h), 0);
  }
  let mean = 0;
  for (const p of train) mean += y[p] / n;
  let variance = 0;
  for (const p of train) variance += (y[p] - mean) ** 2 / n;
  return variance;
}
