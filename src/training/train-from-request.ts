import {
  encodeFeatures,
  encodeTargets,
  encodedFeatureNames,
  fitPreprocessing,
  rowsWithTarget,
  type Preprocessing,
} from '../data/preprocessing';
import { splitTrainValidation } from '../data/split';
import { columnValues, type Table } from '../data/table';
import { invalid } from '../errors';
import type { FrozenModel } from '../ml/frozen-model';
import { sparsityReport, type SparsityReport } from '../ml/sparsity';
import { Trainer, type EpochMetrics, type TrainerCheckpoint } from '../ml/trainer';
import { Rng } from '../random';
import type { TrainingRequest } from '../schemas/training-request.schema';
import { specWarnings } from './spec-warnings';

export interface TrainingHooks {
  /** Called after every completed epoch, before the next one starts. */
  onEpoch?(metrics: EpochMetrics, trainer: Trainer): Promise<void>;
  /** Consulted after every batch; true abandons the run. */
  shouldStop?(): boolean | Promise<boolean>;
  /** A checkpoint to continue from instead of epoch 0. */
  resumeFrom?: TrainerCheckpoint;
}

export interface TrainingOutcome {
  status: 'completed' | 'stopped';
  seed: number;
  preprocessing: Preprocessing;
  metrics: EpochMetrics[];
  frozen: FrozenModel;
  sparsity: SparsityReport;
  warnings: string[];
}

/** A seed for requests that leave it out, recorded with the model so the run can be repeated. */
export function resolveSeed(request: TrainingRequest): number {
  return request.training.seed ?? Math.floor(Math.random() * 2 ** 31);
}

/**
 * The whole training run for one request on one dataset: split, fit preprocessing on the training
 * rows only, train with the service's loop, freeze. Everything random derives from `seed`.
 */
export async function trainFromRequest(
  request: TrainingRequest,
  table: Table,
  seed: number,
  hooks: TrainingHooks = {},
): Promise<TrainingOutcome> {
  const rows = rowsWithTarget(table, request.target);
  const rng = new Rng(seed);
  const labels =
    request.task === 'classification'
      ? Array.from(rows, (r) => String(columnValues(table, request.target)[r]))
      : rows.length;
  const split = splitTrainValidation(labels, request.training.validationSplit, rng);
  const trainRows = split.train.map((i) => rows[i]);
  const preprocessing = fitPreprocessing(table, request.target, request.task, trainRows);
  if (request.task === 'classification' && preprocessing.target.task === 'classification') {
    if (preprocessing.target.classes.length > 4096) {
      throw invalid('INVALID_TRAINING_REQUEST', `target "${request.target}" has more than 4096 classes`);
    }
  }

  const trainer = new Trainer(
    {
      task: request.task,
      x: encodeFeatures(preprocessing, table, rows),
      y: encodeTargets(preprocessing, table, rows),
      inputSize: preprocessing.inputSize,
      outputSize:
        preprocessing.target.task === 'classification' ? preprocessing.target.classes.length : 1,
      trainRows: split.train,
      validationRows: split.validation,
      targetStd: preprocessing.target.task === 'regression' ? preprocessing.target.std : undefined,
    },
    {
      hidden: request.model.hidden,
      regularization: request.regularization,
      epochs: request.training.epochs,
      batchSize: request.training.batchSize,
      optimizer: request.training.optimizer,
      learningRate: request.training.learningRate,
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
    return {
      status,
      seed,
      preprocessing,
      metrics: trainer.metrics,
      frozen: trainer.network.freeze(),
      sparsity: sparsityReport(
        trainer.network,
        encodedFeatureNames(preprocessing).map((f) => f.label),
      ),
      warnings: specWarnings(request),
    };
  } finally {
    trainer.dispose();
  }
}
