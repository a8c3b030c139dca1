import * as tf from '@tensorflow/tfjs';
import type { FrozenOp } from '../frozen-model';
import type { Buffer, ForwardContext, Layer, Param } from './layer';

export interface BatchNormalizationArgs {
  name: string;
  units: number;
  /**
   * Keras convention, default 0.99: running = momentum·running + (1 − momentum)·batch.
   * PyTorch's `momentum` is the weight of the new batch, i.e. 1 − this value.
   */
  momentum?: number;
  /** Added to the variance before the square root. Default 0.001. */
  epsilon?: number;
}

/** A training-mode forward pass: the output and the statistics the running averages move to. */
export interface BatchNormalized {
  output: tf.Tensor2D;
  mean: tf.Tensor;
  /** Biased (divide by the count), the convention of the stored running variance. */
  variance: tf.Tensor;
}

/**
 * Batch normalization over the batch axis of a [batch, units] input.
 * Training: normalize with the mini-batch mean and biased variance, and move the running
 * statistics towards them (the running variance stores the biased batch variance, as Keras does;
 * PyTorch stores the unbiased one). Inference: the frozen running statistics, so one row's output
 * never depends on the other rows.
 *
 * Subclasses change only how training-mode statistics are obtained (`normalizeBatch`):
 * synchronized and ghost batch normalization share the running statistics, inference and
 * freezing.
 */
export class BatchNormalization implements Layer {
  readonly name: string;
  readonly params: Param[];
  readonly buffers: Buffer[];
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly movingMean: tf.Variable;
  readonly movingVariance: tf.Variable;
  readonly momentum: number;
  readonly epsilon: number;

  constructor(args: BatchNormalizationArgs) {
    this.momentum = args.momentum ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-3;
    if (!(this.momentum > 0 && this.momentum < 1)) {
      throw new Error(`Expected momentum in (0, 1), received ${args.momentum}`);
    }
    if (!(this.epsilon > 0)) throw new Error(`Expected epsilon > 0, received ${args.epsilon}`);
    this.name = args.name;
    this.gamma = tf.variable(tf.ones([args.units]), true);
    this.beta = tf.variable(tf.zeros([args.units]), true);
    this.movingMean = tf.variable(tf.zeros([args.units]), false);
    this.movingVariance = tf.variable(tf.ones([args.units]), false);
    this.params = [
      { name: `${args.name}/gamma`, role: 'gamma', variable: this.gamma },
      { name: `${args.name}/beta`, role: 'beta', variable: this.beta },
    ];
    this.buffers = [
      { name: `${args.name}/moving_mean`, variable: this.movingMean },
      { name: `${args.name}/moving_variance`, variable: this.movingVariance },
    ];
  }

  apply(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    if (!ctx.training) {
      return this.normalize(x, this.movingMean, this.movingVariance);
    }
    const { output, mean, variance } = this.normalizeBatch(x);
    if (ctx.bufferUpdates) {
      const m = this.momentum;
      // kept: the engine disposes forward-pass intermediates before the update is applied.
      ctx.bufferUpdates.push(
        { variable: this.movingMean, value: tf.keep(tf.add(tf.mul(this.movingMean, m), tf.mul(mean, 1 - m))) },
        { variable: this.movingVariance, value: tf.keep(tf.add(tf.mul(this.movingVariance, m), tf.mul(variance, 1 - m))) },
      );
    }
    return output;
  }

  /** Training mode: the whole mini-batch's mean and biased variance. */
  protected normalizeBatch(x: tf.Tensor2D): BatchNormalized {
    const { mean, variance } = tf.moments(x, 0);
    return { output: this.normalize(x, mean, variance), mean, variance };
  }

  /** (x − μ) / sqrt(σ² + ε) · γ + β. */
  protected normalize(x: tf.Tensor2D, mean: tf.Tensor, variance: tf.Tensor): tf.Tensor2D {
    const inv = tf.mul(tf.rsqrt(tf.add(variance, this.epsilon)), this.gamma);
    return tf.add(tf.mul(tf.sub(x, mean), inv), this.beta);
  }

  /** Inference-mode BN is the affine map x·s + (β − μ·s) with s = γ / sqrt(σ² + ε). */
  freeze(): FrozenOp[] {
    const gamma = this.gamma.dataSync();
    const beta = this.beta.dataSync();
    const mean = this.movingMean.dataSync();
    const variance = this.movingVariance.dataSync();
    const scale = new Float32Array(gamma.length);
    const shift = new Float32Array(gamma.length);
    for (let i = 0; i < gamma.length; i++) {
      scale[i] = gamma[i] / Math.sqrt(variance[i] + this.epsilon);
      shift[i] = beta[i] - mean[i] * scale[i];
    }
    return [{ op: 'affine', scale, shift }];
  }
}
