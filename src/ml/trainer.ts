import * as tf from '@tensorflow/tfjs';
import { Rng, type RngState } from '../random';
import {
  usesBatchStatistics,
  type AugmentationSpec,
  type EarlyStoppingSpec,
  type RegularizationSpec,
} from '../schemas/training-request.schema';
import { createAugmenter, type Augmenter } from './augmentation';
import { EarlyStopping, type EarlyStoppingState } from './early-stopping';
import type { BufferUpdate } from './layers/layer';
import { Network, type NetworkSpec } from './network';
import { createOptimizer, type Optimizer, type OptimizerState } from './optimizers';
import {
  addPenaltyGradients,
  applyPostStep,
  kernelNorm,
  penaltyTerm,
  planRegularization,
  type RegularizationPlan,
} from './regularization';

export type Task = 'classification' | 'regression';

/** Encoded data for one job: features row-major, targets as class index or standardized value. */
export interface TrainingData {
  task: Task;
  x: Float32Array;
  y: Float32Array;
  inputSize: number;
  /** Number of classes (classification) or 1 (regression). */
  outputSize: number;
  trainRows: Int32Array;
  validationRows: Int32Array;
  /** Regression only: the target's standard deviation, to report MAE in the target's units. */
  targetStd?: number;
  /** 1 for standardized numeric inputs, 0 for one-hot ones: where Gaussian noise may go. */
  numericMask?: Float32Array;
}

export interface TrainerOptions {
  hidden: NetworkSpec['hidden'];
  /** The request's model.init (see NetworkSpec.init). */
  init?: NetworkSpec['init'];
  regularization: RegularizationSpec;
  epochs: number;
  batchSize: number;
  optimizer: 'adam' | 'sgd' | 'rmsprop';
  learningRate: number;
  seed: number;
  earlyStopping?: EarlyStoppingSpec;
  augmentation?: AugmentationSpec;
}

export interface EpochMetrics {
  /** 1-based. */
  epoch: number;
  /** Mean data loss over the epoch's training batches, in training mode (dropout on). */
  loss: number;
  /** The regularization term at the end of the epoch (not included in `loss`). */
  penalty: number;
  /** Data loss on the training rows in inference mode, comparable with valLoss. */
  trainLoss: number;
  valLoss?: number;
  /** The generalization gap: valLoss − trainLoss. */
  gap?: number;
  accuracy?: number;
  valAccuracy?: number;
  mae?: number;
  valMae?: number;
  /** ‖all kernels‖₂. */
  kernelL2: number;
  /** Share of kernel weights that are exactly zero. */
  zeroShare: number;
  durationMs: number;
}

/** Everything needed to continue training exactly where it stopped. */
export interface TrainerCheckpoint {
  epoch: number;
  weights: Record<string, Float32Array>;
  optimizer: OptimizerState;
  rng: RngState;
  metrics: EpochMetrics[];
  earlyStopping?: EarlyStoppingState;
  /** The best epoch's weights, kept for restoreBestWeights. */
  bestWeights?: Record<string, Float32Array>;
}

const EVAL_CHUNK = 4096;

/**
 * The service's own training loop (not model.fit): one call to `runEpoch` per epoch, yielding to
 * the event loop after every batch, so a caller can check for cancellation, report progress and
 * checkpoint between epochs. Its whole state is in `checkpoint()`.
 */
export class Trainer {
  readonly network: Network;
  readonly metrics: EpochMetrics[] = [];
  private readonly optimizer: Optimizer;
  private readonly plan: RegularizationPlan;
  private readonly augmenter: Augmenter | null;
  private readonly earlyStopping?: EarlyStopping;
  private bestWeights?: Record<string, Float32Array>;
  private rng: Rng;
  private completedEpochs = 0;
  private stopped = false;

  constructor(
    readonly data: TrainingData,
    readonly options: TrainerOptions,
  ) {
    this.rng = new Rng(options.seed);
    this.network = new Network(
      {
        inputSize: data.inputSize,
        hidden: options.hidden,
        init: options.init,
        outputSize: data.outputSize,
        output: data.task === 'classification' ? 'softmax' : 'identity',
      },
      this.rng,
    );
    this.optimizer = createOptimizer(options.optimizer, options.learningRate);
    this.plan = planRegularization(
      this.network.kernels,
      options.regularization,
      options.hidden.map((h) => h.regularization),
    );
    this.augmenter = options.augmentation
      ? createAugmenter(options.augmentation, data.numericMask ?? new Float32Array(data.inputSize).fill(1))
      : null;
    if (options.earlyStopping) this.earlyStopping = new EarlyStopping(options.earlyStopping);
  }

  get epoch(): number {
    return this.completedEpochs;
  }

  /** True once every epoch has run or early stopping has ended the run. */
  get done(): boolean {
    return this.stopped || this.completedEpochs >= this.options.epochs;
  }

  get bestEpoch(): number | undefined {
    return this.earlyStopping?.state.bestEpoch || undefined;
  }

  get stoppedEpoch(): number | undefined {
    return this.earlyStopping?.state.stoppedEpoch;
  }

  /**
   * Trains one epoch. `shouldStop` is consulted after every batch; when it answers true the
   * epoch is abandoned (weights keep the batches already applied) and null is returned.
   */
  async runEpoch(shouldStop?: () => boolean | Promise<boolean>): Promise<EpochMetrics | null> {
    const started = performance.now();
    const order = Int32Array.from(this.data.trainRows);
    this.rng.shuffle(order);
    const { batchSize } = this.options;
    // Batch norm cannot estimate a variance from one row; a trailing batch of one is skipped.
    const hasBatchStats = this.options.hidden.some((h) => usesBatchStatistics(h.normalization));
    let lossSum = 0;
    let correct = 0;
    let absErrorSum = 0;
    let seen = 0;
    for (let start = 0; start < order.length; start += batchSize) {
      const batch = order.subarray(start, Math.min(start + batchSize, order.length));
      if (batch.length === 1 && hasBatchStats && order.length > 1) continue;
      const stats = this.step(batch);
      lossSum += stats.loss * batch.length;
      correct += stats.correct;
      absErrorSum += stats.absError;
      seen += batch.length;
      await new Promise((resolve) => setImmediate(resolve));
      if (shouldStop && (await shouldStop())) return null;
    }
    this.completedEpochs++;
    const metrics = this.epochMetrics(lossSum / seen, correct / seen, absErrorSum / seen);
    metrics.durationMs = Math.round(performance.now() - started);
    this.metrics.push(metrics);
    this.watchEarlyStopping(metrics);
    return metrics;
  }

  private epochMetrics(loss: number, accuracy: number, meanAbsError: number): EpochMetrics {
    const train = this.evaluate(this.data.trainRows);
    const zeros = this.network.kernels.reduce((n, p) => n + countZeros(p.variable.dataSync()), 0);
    const weights = this.network.kernels.reduce((n, p) => n + p.variable.size, 0);
    const metrics: EpochMetrics = {
      epoch: this.completedEpochs,
      loss,
      penalty: tf.tidy(() => penaltyTerm(this.plan, { includeL1: true }).dataSync()[0]),
      trainLoss: train.loss,
      kernelL2: kernelNorm(this.network.kernels),
      zeroShare: weights ? zeros / weights : 0,
      durationMs: 0,
    };
    if (this.data.task === 'classification') metrics.accuracy = accuracy;
    else metrics.mae = meanAbsError * (this.data.targetStd ?? 1);
    if (this.data.validationRows.length > 0) {
      const val = this.evaluate(this.data.validationRows);
      metrics.valLoss = val.loss;
      metrics.gap = val.loss - train.loss;
      if (val.accuracy !== undefined) metrics.valAccuracy = val.accuracy;
      if (val.mae !== undefined) metrics.valMae = val.mae;
    }
    return metrics;
  }

  private watchEarlyStopping(metrics: EpochMetrics): void {
    if (!this.earlyStopping) return;
    const { improved, stop } = this.earlyStopping.update(metrics.epoch, metrics[this.earlyStopping.spec.monitor]);
    if (improved && this.earlyStopping.spec.restoreBestWeights) this.bestWeights = this.network.getWeights();
    if (stop) this.stopped = true;
  }

  /**
   * Puts the best epoch's weights back when early stopping asked for it. Returns whether it did
   * (false when the last epoch was the best, or early stopping is off).
   */
  restoreBestWeights(): boolean {
    const es = this.earlyStopping;
    if (!es?.spec.restoreBestWeights || !this.bestWeights) return false;
    if (es.state.bestEpoch === this.completedEpochs) return false;
    this.network.setWeights(this.bestWeights);
    return true;
  }

  /**
   * One optimizer step on the given rows; returns the batch's data loss and counts. The network's
   * forward and backward passes are chained by hand (Network.forwardWithBackward), with the
   * loss's gradient in closed form, rather than recorded on tf's tape: the gradients are the
   * same, with far fewer ops.
   */
  private step(rows: Int32Array): { loss: number; correct: number; absError: number } {
    const updates: BufferUpdate[] = [];
    const params = this.network.params;
    const includeL1 = this.plan.l1Mode === 'subgradient';
    const batch = this.batch(rows);
    const values = tf.tidy(() => {
      let xb = batch.x();
      let tb = batch.targets();
      if (this.augmenter) ({ x: xb, y: tb } = this.augmenter.apply(xb, tb, this.rng));
      const pass = this.network.forwardWithBackward(xb, { training: true, rng: this.rng, bufferUpdates: updates });
      const { loss, gradient } = this.dataLossWithGradient(pass.output, tb);
      const grads = pass.backward(gradient);
      const byName: Record<string, tf.Tensor> = {};
      params.forEach((p, i) => (byName[p.name] = grads[i]));
      addPenaltyGradients(this.plan, byName, { includeL1 });
      this.optimizer.apply(params, byName);
      applyPostStep(this.plan, this.options.learningRate);
      for (const update of updates) update.variable.assign(update.value);
      // One read for the three numbers.
      return tf.stack([loss, ...this.batchCounts(pass.output, batch.labels())]).dataSync();
    });
    for (const update of updates) update.value.dispose();
    return { loss: values[0], correct: values[1], absError: values[2] };
  }

  /**
   * Rows of the encoded data as tensors: features, targets (one-hot or [n, 1]) and labels (class
   * indices or the same [n, 1] targets). Copied out in JavaScript and uploaded per batch rather
   * than gathered from a resident copy of the dataset: wasm's gather takes 1.5 µs a row. The
   * tensors are made when called, inside the caller's tidy.
   */
  private batch(rows: Int32Array): { x: () => tf.Tensor2D; targets: () => tf.Tensor2D; labels: () => tf.Tensor } {
    const { inputSize, outputSize, task } = this.data;
    const n = rows.length;
    const x = new Float32Array(n * inputSize);
    for (let i = 0; i < n; i++) {
      const start = rows[i] * inputSize;
      x.set(this.data.x.subarray(start, start + inputSize), i * inputSize);
    }
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) y[i] = this.data.y[rows[i]];
    if (task === 'classification') {
      const oneHot = new Float32Array(n * outputSize);
      for (let i = 0; i < n; i++) oneHot[i * outputSize + y[i]] = 1;
      return {
        x: () => tf.tensor2d(x, [n, inputSize]),
        targets: () => tf.tensor2d(oneHot, [n, outputSize]),
        labels: () => tf.tensor1d(Int32Array.from(y), 'int32'),
      };
    }
    return {
      x: () => tf.tensor2d(x, [n, inputSize]),
      targets: () => tf.tensor2d(y, [n, 1]),
      labels: () => tf.tensor2d(y, [n, 1]),
    };
  }

  /**
   * The mean data loss of `dataLoss` and its gradient with respect to the output, in closed
   * form: (softmax(z) − t)/n for softmax cross-entropy (tf's gradient, which takes each row of
   * t to sum to 1), 2·(ŷ − y)/size for the mean squared error.
   */
  private dataLossWithGradient(output: tf.Tensor2D, targets: tf.Tensor2D): { loss: tf.Scalar; gradient: tf.Tensor2D } {
    if (this.data.task === 'classification') {
      const logProbabilities = tf.sub(output, tf.logSumExp(output, 1, true));
      const loss = tf.neg(tf.mean<tf.Scalar>(tf.sum(tf.mul(logProbabilities, targets), 1)));
      const gradient = tf.mul<tf.Tensor2D>(tf.sub(tf.exp(logProbabilities), targets), 1 / output.shape[0]);
      return { loss, gradient };
    }
    const difference = tf.sub<tf.Tensor2D>(output, targets);
    return { loss: tf.mean<tf.Scalar>(tf.square(difference)), gradient: tf.mul(difference, 2 / difference.size) };
  }

  /** Mean softmax cross-entropy against (soft) labels, or mean squared error. */
  private dataLoss(output: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
    if (this.data.task === 'classification') return tf.losses.softmaxCrossEntropy(targets, output);
    return tf.losses.meanSquaredError(targets, output);
  }

  /** [correct predictions, sum of absolute errors] of a batch; the irrelevant one is 0. */
  private batchCounts(output: tf.Tensor2D, y: tf.Tensor): [tf.Scalar, tf.Scalar] {
    if (this.data.task === 'classification') {
      const correct = tf.sum<tf.Scalar>(tf.cast(tf.equal(tf.argMax(output, 1), y), 'float32'));
      return [correct, tf.scalar(0)];
    }
    return [tf.scalar(0), tf.sum<tf.Scalar>(tf.abs(tf.sub(output, y)))];
  }

  /** Loss and accuracy/MAE in inference mode (running statistics, no dropout). */
  evaluate(rows: Int32Array): { loss: number; accuracy?: number; mae?: number } {
    let lossSum = 0;
    let correct = 0;
    let absError = 0;
    for (let start = 0; start < rows.length; start += EVAL_CHUNK) {
      const chunk = rows.subarray(start, Math.min(start + EVAL_CHUNK, rows.length));
      const batch = this.batch(chunk);
      const values = tf.tidy(() => {
        const output = this.network.forward(batch.x(), { training: false });
        const loss = tf.mul<tf.Scalar>(this.dataLoss(output, batch.targets()), chunk.length);
        return tf.stack([loss, ...this.batchCounts(output, batch.labels())]).dataSync();
      });
      lossSum += values[0];
      correct += values[1];
      absError += values[2];
    }
    const n = rows.length;
    if (n === 0) return { loss: NaN };
    if (this.data.task === 'classification') return { loss: lossSum / n, accuracy: correct / n };
    return { loss: lossSum / n, mae: (absError / n) * (this.data.targetStd ?? 1) };
  }

  checkpoint(): TrainerCheckpoint {
    return {
      epoch: this.completedEpochs,
      weights: this.network.getWeights(),
      optimizer: this.optimizer.getState(),
      rng: this.rng.state(),
      metrics: this.metrics.map((m) => ({ ...m })),
      ...(this.earlyStopping ? { earlyStopping: { ...this.earlyStopping.state } } : {}),
      ...(this.bestWeights ? { bestWeights: this.bestWeights } : {}),
    };
  }

  restore(checkpoint: TrainerCheckpoint): void {
    this.network.setWeights(checkpoint.weights);
    this.optimizer.setState(checkpoint.optimizer);
    this.rng = new Rng(checkpoint.rng);
    this.completedEpochs = checkpoint.epoch;
    this.metrics.splice(0, this.metrics.length, ...checkpoint.metrics);
    if (this.earlyStopping && checkpoint.earlyStopping) {
      this.earlyStopping.state = { ...checkpoint.earlyStopping };
      this.stopped = checkpoint.earlyStopping.stoppedEpoch !== undefined;
    }
    this.bestWeights = checkpoint.bestWeights;
  }

  dispose(): void {
    this.network.dispose();
    this.optimizer.dispose();
  }
}

function countZeros(values: ArrayLike<number>): number {
  let zeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
  return zeros;
}
