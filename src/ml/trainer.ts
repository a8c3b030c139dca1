import * as tf from '@tensorflow/tfjs';
import { Rng, type RngState } from '../random';
import type { RegularizationSpec } from '../schemas/training-request.schema';
import type { BufferUpdate } from './layers/layer';
import { Network, type NetworkSpec } from './network';
import { createOptimizer, type Optimizer, type OptimizerState } from './optimizers';
import { kernelPenalty } from './regularization';

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
}

export interface TrainerOptions {
  hidden: NetworkSpec['hidden'];
  regularization: RegularizationSpec;
  epochs: number;
  batchSize: number;
  optimizer: 'adam' | 'sgd' | 'rmsprop';
  learningRate: number;
  seed: number;
}

export interface EpochMetrics {
  /** 1-based. */
  epoch: number;
  /** Mean data loss over the epoch's training batches, in training mode (dropout on). */
  loss: number;
  /** The regularization term at the end of the epoch (not included in `loss`). */
  penalty: number;
  valLoss?: number;
  accuracy?: number;
  valAccuracy?: number;
  mae?: number;
  valMae?: number;
  durationMs: number;
}

/** Everything needed to continue training exactly where it stopped. */
export interface TrainerCheckpoint {
  epoch: number;
  weights: Record<string, Float32Array>;
  optimizer: OptimizerState;
  rng: RngState;
  metrics: EpochMetrics[];
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
  private rng: Rng;
  private readonly x: tf.Tensor2D;
  private readonly y: tf.Tensor;
  private completedEpochs = 0;

  constructor(
    readonly data: TrainingData,
    readonly options: TrainerOptions,
  ) {
    this.rng = new Rng(options.seed);
    this.network = new Network(
      {
        inputSize: data.inputSize,
        hidden: options.hidden,
        outputSize: data.outputSize,
        output: data.task === 'classification' ? 'softmax' : 'identity',
      },
      this.rng,
    );
    this.optimizer = createOptimizer(options.optimizer, options.learningRate);
    const rows = data.x.length / data.inputSize;
    this.x = tf.tensor2d(data.x, [rows, data.inputSize]);
    this.y =
      data.task === 'classification'
        ? tf.tensor1d(Int32Array.from(data.y), 'int32')
        : tf.tensor2d(data.y, [rows, 1]);
  }

  get epoch(): number {
    return this.completedEpochs;
  }

  get done(): boolean {
    return this.completedEpochs >= this.options.epochs;
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
    const hasBatchNorm = this.options.hidden.some((h) => h.normalization.type === 'batch');
    let lossSum = 0;
    let correct = 0;
    let absErrorSum = 0;
    let seen = 0;
    for (let start = 0; start < order.length; start += batchSize) {
      const batch = order.subarray(start, Math.min(start + batchSize, order.length));
      if (batch.length === 1 && hasBatchNorm && order.length > 1) continue;
      const stats = this.step(batch);
      lossSum += stats.loss * batch.length;
      correct += stats.correct;
      absErrorSum += stats.absError;
      seen += batch.length;
      await new Promise((resolve) => setImmediate(resolve));
      if (shouldStop && (await shouldStop())) return null;
    }
    this.completedEpochs++;
    const metrics: EpochMetrics = {
      epoch: this.completedEpochs,
      loss: lossSum / seen,
      penalty: tf.tidy(() => kernelPenalty(this.network.kernels, this.options.regularization).dataSync()[0]),
      durationMs: 0,
    };
    if (this.data.task === 'classification') metrics.accuracy = correct / seen;
    else metrics.mae = (absErrorSum / seen) * (this.data.targetStd ?? 1);
    if (this.data.validationRows.length > 0) {
      const val = this.evaluate(this.data.validationRows);
      metrics.valLoss = val.loss;
      if (val.accuracy !== undefined) metrics.valAccuracy = val.accuracy;
      if (val.mae !== undefined) metrics.valMae = val.mae;
    }
    metrics.durationMs = Math.round(performance.now() - started);
    this.metrics.push(metrics);
    return metrics;
  }

  /** One optimizer step on the given rows; returns the batch's data loss and counts. */
  private step(rows: Int32Array): { loss: number; correct: number; absError: number } {
    const updates: BufferUpdate[] = [];
    const params = this.network.params;
    const result = tf.tidy(() => {
      const index = tf.tensor1d(rows, 'int32');
      const xb = tf.gather(this.x, index);
      const yb = tf.gather(this.y, index);
      let dataLoss: tf.Scalar | undefined;
      let output: tf.Tensor2D | undefined;
      const { grads } = tf.variableGrads(() => {
        output = tf.keep(
          this.network.forward(xb, { training: true, rng: this.rng, bufferUpdates: updates }),
        );
        dataLoss = tf.keep(this.dataLoss(output, yb));
        return tf.add(dataLoss, kernelPenalty(this.network.kernels, this.options.regularization));
      }, params.map((p) => p.variable));
      const byName: Record<string, tf.Tensor> = {};
      for (const p of params) byName[p.name] = grads[p.variable.name];
      this.optimizer.apply(params, byName);
      for (const update of updates) update.variable.assign(update.value);
      const counts = this.batchCounts(output!, yb);
      tf.dispose(output!); // kept for the counts only; kept tensors escape the tidy
      return [dataLoss!, ...counts];
    });
    for (const update of updates) update.value.dispose();
    const [loss, correct, absError] = result.map((t) => t.dataSync()[0]);
    tf.dispose(result);
    return { loss, correct, absError };
  }

  private dataLoss(output: tf.Tensor2D, y: tf.Tensor): tf.Scalar {
    if (this.data.task === 'classification') {
      return tf.losses.softmaxCrossEntropy(tf.oneHot(y as tf.Tensor1D, this.data.outputSize), output);
    }
    return tf.losses.meanSquaredError(y, output);
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
      const values = tf.tidy(() => {
        const index = tf.tensor1d(chunk, 'int32');
        const y = tf.gather(this.y, index);
        const output = this.network.forward(tf.gather(this.x, index), { training: false });
        const loss = tf.mul<tf.Scalar>(this.dataLoss(output, y), chunk.length);
        return tf.stack([loss, ...this.batchCounts(output, y)]).dataSync();
      });
      lossSum += values[0];
      correct += values[1];
      absError += values[2];
    }
    const n = rows.length;
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
    };
  }

  restore(checkpoint: TrainerCheckpoint): void {
    this.network.setWeights(checkpoint.weights);
    this.optimizer.setState(checkpoint.optimizer);
    this.rng = new Rng(checkpoint.rng);
    this.completedEpochs = checkpoint.epoch;
    this.metrics.splice(0, this.metrics.length, ...checkpoint.metrics);
  }

  dispose(): void {
    this.network.dispose();
    this.optimizer.dispose();
    this.x.dispose();
    this.y.dispose();
  }
}
