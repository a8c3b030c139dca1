import * as tf from '@tensorflow/tfjs';
import { Rng, type RngState } from '../random';
import { createAugmenter, type Augmenter } from './augmentation';
import { EarlyStopping, type EarlyStoppingState } from './early-stopping';
import { clipGradients } from './gradient-clipping';
import type { BufferUpdate } from './layers/layer';
import { LearningRateSchedule, type LearningRateScheduleState } from './learning-rate-schedule';
import { softmaxCrossEntropyWithGradient, weightedCrossEntropySums } from './losses';
import { Network, type NetworkSpec } from './network';
import { createOptimizer, type Optimizer, type OptimizerState } from './optimizers';
import { recomputeBatchStatistics } from './precise-batch-statistics';
import {
  usesBatchStatistics,
  type AugmentationSpec,
  type EarlyStoppingSpec,
  type GradientClippingSpec,
  type LearningRateScheduleSpec,
  type RegularizationSpec,
  type Task,
} from './spec';
import {
  addPenaltyGradients,
  applyPostStep,
  kernelNorm,
  penaltyTerm,
  planRegularization,
  type RegularizationPlan,
} from './regularization';

/** Re-exported for the trainer's callers. */
export type { Task } from './spec';

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
  /**
   * The feature rows a chunk at a time instead of in `x` (then empty): see ChunkedFeatures.
   * `y` stays whole (4 bytes a row).
   */
  chunks?: ChunkedFeatures;
}

/**
 * Encoded feature rows kept in chunks of consecutive positions, loaded on demand: chunk c holds
 * the positions [starts[c], starts[c + 1]). The source decides how many stay resident.
 */
export interface ChunkedFeatures {
  starts: Int32Array;
  /**
   * Chunk c's rows, row-major ((starts[c + 1] − starts[c]) × inputSize). Valid until the next
   * `load` (the source may reuse an evicted chunk's array): copy the rows out before calling again.
   */
  load(chunk: number): Promise<Float32Array>;
  /**
   * A hint: the positions about to be gathered, in the order they will be (an epoch's order, the
   * rows of a metrics pass), so that the source can read the next chunk while this one trains.
   * The rows gathered are the same with or without it.
   */
  readAhead?(positions: Int32Array): void;
}

/**
 * The order of one epoch's training rows. In memory: a Fisher–Yates shuffle of `trainRows`.
 * In chunks: the chunk order shuffled first, then each chunk's own training rows (ascending, as
 * `trainRows` is) shuffled in turn and appended, so an epoch reads each chunk once and the batches
 * of a chunk follow one another. With one chunk the first shuffle draws nothing and the second is
 * the in-memory shuffle: the same order.
 */
export function epochOrder(trainRows: Int32Array, rng: Rng, starts?: Int32Array): Int32Array {
  const order = Int32Array.from(trainRows);
  if (!starts) {
    rng.shuffle(order);
    return order;
  }
  const chunkOrder = Int32Array.from({ length: starts.length - 1 }, (_, c) => c);
  rng.shuffle(chunkOrder);
  let offset = 0;
  for (const c of chunkOrder) {
    const from = lowerBound(trainRows, starts[c]);
    const to = lowerBound(trainRows, starts[c + 1]);
    const part = order.subarray(offset, offset + to - from);
    part.set(trainRows.subarray(from, to));
    rng.shuffle(part);
    offset += to - from;
  }
  return order;
}

/** The first index of ascending `values` whose value is ≥ `value`. */
function lowerBound(values: Int32Array, value: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
  /** Off (a constant learningRate) when absent; see learning-rate-schedule.ts. */
  learningRateSchedule?: LearningRateScheduleSpec;
  /** Off when absent; see gradient-clipping.ts. */
  gradientClipping?: GradientClippingSpec;
  /**
   * Classification: a weight per class index, in the training loss and in the reported
   * inference-mode losses (trainLoss, valLoss, evaluate); see losses.ts. Absent: all 1.
   */
  classWeights?: ArrayLike<number>;
  /** Classification: ε of label smoothing, in the training loss only. Default 0. */
  labelSmoothing?: number;
}

export interface EpochMetrics {
  /** 1-based. */
  epoch: number;
  /**
   * Mean data loss over the epoch's training batches as they were trained on: training mode
   * (dropout on, batch statistics), weights changing from batch to batch. Not comparable with
   * valLoss; `trainLoss` is.
   */
  trainingModeLoss: number;
  /** The regularization term at the end of the epoch (not included in the losses). */
  penalty: number;
  /** Data loss on the training rows in inference mode, comparable with valLoss. */
  trainLoss: number;
  valLoss?: number;
  /**
   * The standard error of valLoss as an estimate of the loss on unseen rows: the standard
   * deviation of the validation rows' own losses / √(validation rows). The diagnosis weighs gaps
   * and turns against it. Absent with fewer than 2 validation rows (and in older metrics).
   */
  valLossStdError?: number;
  /** The generalization gap: valLoss − trainLoss. */
  gap?: number;
  /** Accuracy on the training rows in inference mode, at the end of the epoch: comparable with valAccuracy. */
  accuracy?: number;
  valAccuracy?: number;
  /** MAE on the training rows in inference mode, in the target's units: comparable with valMae. */
  mae?: number;
  valMae?: number;
  /** ‖all kernels‖₂. */
  kernelL2: number;
  /** Share of kernel weights that are exactly zero. */
  zeroShare: number;
  durationMs: number;
  /** The learning rate of the epoch's last step (absent in metrics stored before it existed). */
  learningRate?: number;
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
  /** reduce-on-plateau's state (the other schedules follow from the step count alone). */
  learningRateSchedule?: LearningRateScheduleState;
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
  private readonly schedule?: LearningRateSchedule;
  /** [1, K], when classWeights are set. */
  private readonly classWeights?: tf.Tensor2D;
  private bestWeights?: Record<string, Float32Array>;
  private rng: Rng;
  private completedEpochs = 0;
  private stopped = false;
  /** Optimizer steps taken in the whole run: the schedules' clock (restored from the optimizer's). */
  private stepsTaken = 0;
  /** The rate of the last step, reported per epoch. */
  private learningRate: number;
  /** Whether a layer estimates batch statistics (then a batch of one row cannot train). */
  private readonly hasBatchStatistics: boolean;

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
    const batchStatistics = options.hidden.find((h) => usesBatchStatistics(h.normalization))?.normalization.type;
    this.hasBatchStatistics = batchStatistics !== undefined;
    if (batchStatistics && (options.batchSize < 2 || data.trainRows.length < 2)) {
      const what = options.batchSize < 2 ? 'batchSize 1' : `${data.trainRows.length} training row`;
      throw new Error(`${what} cannot train "${batchStatistics}" normalization: the variance of one row is 0`);
    }
    this.learningRate = options.learningRate;
    if (options.learningRateSchedule) {
      this.schedule = new LearningRateSchedule(options.learningRateSchedule, options.learningRate, {
        epochs: options.epochs,
        stepsPerEpoch: this.stepsPerEpoch(),
      });
    }
    if (options.classWeights) {
      if (data.task !== 'classification' || options.classWeights.length !== data.outputSize) {
        throw new Error(
          `classWeights needs one weight per class (${data.outputSize}), received ${options.classWeights.length}`,
        );
      }
      this.classWeights = tf.tensor2d(Float32Array.from(options.classWeights), [1, data.outputSize]);
    }
  }

  /** Optimizer steps per epoch: one per batch, less the trailing batch of one runEpoch skips. */
  private stepsPerEpoch(): number {
    const rows = this.data.trainRows.length;
    const { batchSize } = this.options;
    const skipsLast = this.hasBatchStatistics && rows > 1 && rows % batchSize === 1;
    return Math.ceil(rows / batchSize) - (skipsLast ? 1 : 0);
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
    const order = epochOrder(this.data.trainRows, this.rng, this.data.chunks?.starts);
    this.data.chunks?.readAhead?.(order);
    const { batchSize } = this.options;
    // Batch norm cannot estimate a variance from one row; an epoch's last batch of one is skipped
    // (the order is reshuffled every epoch, so no row is always the one left out).
    let lossSum = 0;
    let seen = 0;
    for (let start = 0; start < order.length; start += batchSize) {
      const batch = order.subarray(start, Math.min(start + batchSize, order.length));
      if (batch.length === 1 && this.hasBatchStatistics) continue;
      const x = this.data.chunks ? await this.gatherX(batch) : undefined;
      lossSum += this.step(batch, x) * batch.length;
      seen += batch.length;
      await new Promise((resolve) => setImmediate(resolve));
      if (shouldStop && (await shouldStop())) return null;
    }
    this.completedEpochs++;
    const metrics = await this.epochMetrics(lossSum / seen);
    metrics.durationMs = Math.round(performance.now() - started);
    metrics.learningRate = this.learningRate;
    this.metrics.push(metrics);
    this.watchEarlyStopping(metrics);
    this.schedule?.endEpoch(metrics);
    return metrics;
  }

  /**
   * The epoch's figures. Training and validation rows are both evaluated in inference mode with
   * the weights at the end of the epoch, so every training figure set beside a validation one
   * (loss, accuracy, MAE) is the same quantity on other rows.
   */
  private async epochMetrics(trainingModeLoss: number): Promise<EpochMetrics> {
    const train = await this.evaluateRows(this.data.trainRows);
    const zeros = this.network.kernels.reduce((n, p) => n + countZeros(p.variable.dataSync()), 0);
    const weights = this.network.kernels.reduce((n, p) => n + p.variable.size, 0);
    const metrics: EpochMetrics = {
      epoch: this.completedEpochs,
      trainingModeLoss,
      penalty: tf.tidy(() => penaltyTerm(this.plan, { includeL1: true }).dataSync()[0]),
      trainLoss: train.loss,
      kernelL2: kernelNorm(this.network.kernels),
      zeroShare: weights ? zeros / weights : 0,
      durationMs: 0,
    };
    if (train.accuracy !== undefined) metrics.accuracy = train.accuracy;
    if (train.mae !== undefined) metrics.mae = train.mae;
    if (this.data.validationRows.length > 0) {
      const val = await this.evaluateRows(this.data.validationRows);
      metrics.valLoss = val.loss;
      if (val.lossStdError !== undefined) metrics.valLossStdError = val.lossStdError;
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
   * Batch norm's running statistics recomputed for the current weights over the training rows
   * (precise-batch-statistics.ts); nothing without a batch-statistics layer. Deterministic: the
   * dropout masks come from a stream of their own, seeded from the run's seed.
   */
  async recomputeBatchStatistics(): Promise<void> {
    if (!this.hasBatchStatistics) return;
    await recomputeBatchStatistics(
      this.network,
      { inputSize: this.data.inputSize, trainRows: this.data.trainRows, gather: async (rows) => this.gatherX(rows) },
      this.options.batchSize,
      new Rng((this.options.seed ^ 0x5bd1e995) >>> 0),
    );
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
   * One optimizer step on the given rows; returns the batch's data loss. The network's
   * forward and backward passes are chained by hand (Network.forwardWithBackward), with the
   * loss's gradient in closed form, rather than recorded on tf's tape: the gradients are the
   * same, with far fewer ops. The step's learning rate (the schedule's, or the constant one)
   * drives the optimizer and the post-step proximal L1 and weight decay alike.
   */
  private step(rows: Int32Array, x?: Float32Array): number {
    const rate = this.schedule
      ? this.schedule.rateAt(this.stepsTaken, this.completedEpochs)
      : this.options.learningRate;
    this.optimizer.learningRate = rate;
    const updates: BufferUpdate[] = [];
    const params = this.network.params;
    const includeL1 = this.plan.l1Mode === 'subgradient';
    const batch = this.batch(rows, x);
    const value = tf.tidy(() => {
      let xb = batch.x();
      let tb = batch.targets();
      if (this.augmenter) ({ x: xb, y: tb } = this.augmenter.apply(xb, tb, this.rng));
      const pass = this.network.forwardWithBackward(xb, { training: true, rng: this.rng, bufferUpdates: updates });
      const { loss, gradient } = this.dataLossWithGradient(pass.output, tb);
      const grads = pass.backward(gradient);
      const byName: Record<string, tf.Tensor> = {};
      params.forEach((p, i) => (byName[p.name] = grads[i]));
      addPenaltyGradients(this.plan, byName, { includeL1 });
      if (this.options.gradientClipping) clipGradients(byName, this.options.gradientClipping);
      this.optimizer.apply(params, byName);
      applyPostStep(this.plan, rate, (param) => this.optimizer.stepSize(param));
      for (const update of updates) update.variable.assign(update.value);
      return loss.dataSync()[0];
    });
    for (const update of updates) update.value.dispose();
    this.stepsTaken++;
    this.learningRate = rate;
    return value;
  }

  /**
   * Rows of the encoded data as tensors: features, targets (one-hot or [n, 1]) and labels (class
   * indices or the same [n, 1] targets). Copied out in JavaScript and uploaded per batch rather
   * than gathered from a resident copy of the dataset: wasm's gather takes 1.5 µs a row. The
   * tensors are made when called, inside the caller's tidy.
   */
  private batch(
    rows: Int32Array,
    gathered?: Float32Array,
  ): { x: () => tf.Tensor2D; targets: () => tf.Tensor2D; labels: () => tf.Tensor } {
    const { inputSize, outputSize, task } = this.data;
    const n = rows.length;
    const x = gathered ?? this.copyX(rows);
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
   * The training loss and its gradient with respect to the output, in closed form: softmax
   * cross-entropy with the class weights and label smoothing (losses.ts; plain, (softmax(z) − t)/n,
   * when both are off), 2·(ŷ − y)/size for the mean squared error.
   */
  private dataLossWithGradient(output: tf.Tensor2D, targets: tf.Tensor2D): { loss: tf.Scalar; gradient: tf.Tensor2D } {
    if (this.data.task === 'classification') {
      return softmaxCrossEntropyWithGradient(output, targets, {
        classWeights: this.classWeights,
        labelSmoothing: this.options.labelSmoothing ?? 0,
      });
    }
    const difference = tf.sub<tf.Tensor2D>(output, targets);
    return { loss: tf.mean<tf.Scalar>(tf.square(difference)), gradient: tf.mul(difference, 2 / difference.size) };
  }

  /** [correct predictions, sum of absolute errors] of a batch; the irrelevant one is 0. */
  private batchCounts(output: tf.Tensor2D, y: tf.Tensor): [tf.Scalar, tf.Scalar] {
    if (this.data.task === 'classification') {
      const correct = tf.sum<tf.Scalar>(tf.cast(tf.equal(tf.argMax(output, 1), y), 'float32'));
      return [correct, tf.scalar(0)];
    }
    return [tf.scalar(0), tf.sum<tf.Scalar>(tf.abs(tf.sub(output, y)))];
  }

  /**
   * Loss and accuracy/MAE in inference mode (running statistics, no dropout), and the loss's
   * standard error: the sample standard deviation of the per-row losses / √n (n ≥ 2). Each chunk
   * contributes its mean and sum of squared deviations, combined with Chan et al.'s parallel
   * formula, which does not cancel as Σl² − (Σl)²/n would.
   */
  evaluate(rows: Int32Array): Evaluation {
    const sums = new EvaluationSums();
    for (let start = 0; start < rows.length; start += EVAL_CHUNK) {
      const chunk = rows.subarray(start, Math.min(start + EVAL_CHUNK, rows.length));
      sums.add(this.evaluateBatch(this.batch(chunk), chunk.length), chunk.length);
    }
    return this.evaluation(sums, rows.length);
  }

  /**
   * `evaluate` for any rows, also of chunked data: the same slices and sums, with each slice's
   * features gathered from its chunks first. The validation rows are gathered once and kept.
   */
  async evaluateRows(rows: Int32Array): Promise<Evaluation> {
    if (!this.data.chunks) return this.evaluate(rows);
    const resident = rows === this.data.validationRows ? await this.validationX() : undefined;
    if (!resident) this.data.chunks.readAhead?.(rows);
    const width = this.data.inputSize;
    const sums = new EvaluationSums();
    for (let start = 0; start < rows.length; start += EVAL_CHUNK) {
      const end = Math.min(start + EVAL_CHUNK, rows.length);
      const chunk = rows.subarray(start, end);
      const x = resident ? resident.subarray(start * width, end * width) : await this.gatherX(chunk);
      sums.add(this.evaluateBatch(this.batch(chunk, x), chunk.length), chunk.length);
    }
    return this.evaluation(sums, rows.length);
  }

  private validationRowsX?: Promise<Float32Array>;

  /**
   * The validation rows' features, gathered from the chunks at first use and kept resident (read
   * only: the held-out rows of training from chunks are copied from it rather than gathered again).
   */
  validationX(): Promise<Float32Array> {
    if (!this.validationRowsX) this.data.chunks?.readAhead?.(this.data.validationRows);
    this.validationRowsX ??= this.gatherX(this.data.validationRows);
    return this.validationRowsX;
  }

  /** The features of `rows`, row-major, from `x`. */
  private copyX(rows: Int32Array): Float32Array {
    if (this.data.chunks) throw new Error('chunked training data: gather the rows first (gatherX)');
    const { inputSize } = this.data;
    const x = new Float32Array(rows.length * inputSize);
    for (let i = 0; i < rows.length; i++) copyRow(this.data.x, rows[i] * inputSize, x, i * inputSize, inputSize);
    return x;
  }

  /**
   * The features of `rows`, row-major, from wherever they are: `x`, or their chunks, loaded one
   * run of same-chunk rows at a time (so a slice needs no more than one chunk at once).
   */
  async gatherX(rows: Int32Array): Promise<Float32Array> {
    const chunks = this.data.chunks;
    if (!chunks) return this.copyX(rows);
    const { inputSize } = this.data;
    const x = new Float32Array(rows.length * inputSize);
    let i = 0;
    while (i < rows.length) {
      const c = upperBound(chunks.starts, rows[i]) - 1;
      const first = chunks.starts[c];
      const end = chunks.starts[c + 1];
      const features = await chunks.load(c);
      for (; i < rows.length && rows[i] >= first && rows[i] < end; i++) {
        copyRow(features, (rows[i] - first) * inputSize, x, i * inputSize, inputSize);
      }
    }
    return x;
  }

  /** [Σ loss, Σ weight, correct, Σ |error|, mean row loss, squared deviations] of one slice. */
  private evaluateBatch(batch: ReturnType<Trainer['batch']>, n: number): Float32Array {
    return tf.tidy(() => {
      const output = this.network.forward(batch.x(), { training: false });
      const targets = batch.targets();
      // Each row's plain data loss, for the standard error. With class weights the loss is the
      // weighted mean, and its standard error is approximated by the unweighted rows' one.
      const rowLosses =
        this.data.task === 'classification'
          ? tf.neg(tf.sum(tf.mul(tf.logSoftmax(output), targets), 1))
          : tf.reshape(tf.square(tf.sub(output, targets)), [-1]);
      const { mean, variance } = tf.moments(rowLosses);
      const deviations = tf.mul<tf.Scalar>(variance, n);
      // [Σ loss, Σ weight] of the chunk, never smoothed: the class-weighted cross-entropy and its
      // weights, or (unweighted) the per-row losses' sum and the row count.
      const sums = this.classWeights
        ? weightedCrossEntropySums(output, targets, this.classWeights)
        : [tf.mul<tf.Scalar>(mean, n), tf.scalar(n)];
      return tf
        .stack([...sums, ...this.batchCounts(output, batch.labels()), mean, deviations])
        .dataSync() as Float32Array;
    });
  }

  private evaluation(sums: EvaluationSums, n: number): Evaluation {
    if (n === 0) return { loss: NaN };
    const stdError = n >= 2 ? { lossStdError: Math.sqrt(sums.squaredDeviations / (n - 1) / n) } : {};
    if (this.data.task === 'classification') {
      return { loss: sums.lossSum / sums.weightSum, ...stdError, accuracy: sums.correct / n };
    }
    return {
      loss: sums.lossSum / sums.weightSum,
      ...stdError,
      mae: (sums.absError / n) * (this.data.targetStd ?? 1),
    };
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
      ...(this.schedule?.state.plateau ? { learningRateSchedule: this.schedule.state } : {}),
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
    this.stepsTaken = checkpoint.optimizer.step;
    if (this.schedule && checkpoint.learningRateSchedule) this.schedule.state = checkpoint.learningRateSchedule;
  }

  dispose(): void {
    this.network.dispose();
    this.optimizer.dispose();
    this.classWeights?.dispose();
  }
}

export interface Evaluation {
  loss: number;
  lossStdError?: number;
  accuracy?: number;
  mae?: number;
}

/**
 * The running sums of an evaluation over slices: each slice contributes its mean and sum of
 * squared deviations, combined with Chan et al.'s parallel formula.
 */
class EvaluationSums {
  lossSum = 0;
  weightSum = 0;
  correct = 0;
  absError = 0;
  seen = 0;
  meanRowLoss = 0;
  squaredDeviations = 0;

  add(values: Float32Array, n: number): void {
    this.lossSum += values[0];
    this.weightSum += values[1];
    this.correct += values[2];
    this.absError += values[3];
    const delta = values[4] - this.meanRowLoss;
    const total = this.seen + n;
    this.squaredDeviations += values[5] + (delta * delta * this.seen * n) / total;
    this.meanRowLoss += (delta * n) / total;
    this.seen = total;
  }
}

/**
 * One row of `width` floats from `from` at `start` into `to` at `at`. An element loop, not
 * `to.set(from.subarray(…))`: a subarray is an object per row (two per training row and epoch
 * with the metrics pass), which cost more than the copy itself and fed the young generation's GC.
 */
function copyRow(from: Float32Array, start: number, to: Float32Array, at: number, width: number): void {
  for (let k = 0; k < width; k++) to[at + k] = from[start + k];
}

/** The first index of ascending `values` whose value is > `value`. */
function upperBound(values: Int32Array, value: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function countZeros(values: ArrayLike<number>): number {
  let zeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
  return zeros;
}
