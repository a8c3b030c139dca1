import * as tf from '@tensorflow/tfjs';
import type { FrozenOp } from '../frozen-model';
import { applyWithCustomGradient } from './custom-gradient';
import type { Buffer, ForwardContext, Layer, LayerPass, Param } from './layer';
import { columnSums } from './matrix';

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

/** A training-mode pass, with the statistics the running averages move to. */
export interface BatchNormPass extends LayerPass {
  mean: tf.Tensor;
  /** Biased (divide by the count), the convention of the stored running variance. */
  variance: tf.Tensor;
}

/** Σ over the rows that share one set of statistics (the batch, or all replicas' shards). */
export type BatchSum = (t: tf.Tensor2D) => tf.Tensor1D;

/**
 * Batch normalization over the batch axis of a [batch, units] input.
 * Training: normalize with the mini-batch mean and biased variance, and move the running
 * statistics towards them (the running variance stores the biased batch variance, as Keras does;
 * PyTorch stores the unbiased one). Inference: the frozen running statistics, so one row's output
 * never depends on the other rows.
 *
 * Subclasses change only the training-mode pass (`trainingPass`): synchronized and ghost batch
 * normalization share the running statistics, inference and freezing.
 *
 * Gradients are in closed form. With x_c = x − μ, r = 1/sqrt(σ² + ε) and n rows sharing μ, σ²:
 * dβ = Σ dy, dγ = r·Σ dy⊙x_c, dx = γ·r·(dy − x_c·r·dγ/n − dβ/n); at inference (μ, σ² fixed)
 * dx = γ·r·dy. Sums over rows are matrix.ts's `columnSums`, not the gradients tf derives for
 * tf.moments and tf.batchNorm, which broadcast through `tile` and reduce over the batch axis
 * with kernels that are slow on wasm.
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
    return applyWithCustomGradient(this, x, ctx);
  }

  forward(x: tf.Tensor2D, ctx: ForwardContext): LayerPass {
    if (!ctx.training) return this.inferencePass(x);
    const pass = this.trainingPass(x);
    if (ctx.bufferUpdates) {
      const m = this.momentum;
      // kept: the engine disposes forward-pass intermediates before the update is applied.
      ctx.bufferUpdates.push(
        { variable: this.movingMean, value: tf.keep(tf.add(tf.mul(this.movingMean, m), tf.mul(pass.mean, 1 - m))) },
        { variable: this.movingVariance, value: tf.keep(tf.add(tf.mul(this.movingVariance, m), tf.mul(pass.variance, 1 - m))) },
      );
    }
    return pass;
  }

  /** Training mode: the whole mini-batch's mean and biased variance. */
  protected trainingPass(x: tf.Tensor2D): BatchNormPass {
    const n = x.shape[0];
    const mean = tf.div(columnSums(x), n);
    const centred = tf.sub(x, mean) as tf.Tensor2D;
    const variance = tf.div(columnSums(tf.square(centred)), n);
    return { ...this.batchPass(centred, variance, columnSums), mean, variance };
  }

  /**
   * (x − μ)·r·γ + β, r = 1/sqrt(σ² + ε), given x_c = x − μ, where μ and σ² are the statistics of
   * the rows of x_c, summed over them by `batchSum`; the backward step differentiates through
   * the statistics too.
   */
  protected batchPass(centred: tf.Tensor2D, variance: tf.Tensor, batchSum: BatchSum): LayerPass {
    const n = centred.shape[0];
    const inverseStd = tf.rsqrt(tf.add(variance, this.epsilon));
    const output = tf.add(tf.mul(centred, tf.mul(inverseStd, this.gamma)), this.beta) as tf.Tensor2D;
    return {
      output,
      saved: [centred, inverseStd, this.gamma],
      backward: (dy, [xc, r, gamma], inputGradient) => {
        const dBeta = batchSum(dy);
        const dGamma = tf.mul(batchSum(tf.mul(dy, xc) as tf.Tensor2D), r);
        let dx: tf.Tensor2D | null = null;
        if (inputGradient) {
          const throughVariance = tf.mul(xc, tf.mul(r, tf.div(dGamma, n)));
          const centredDy = tf.sub(tf.sub(dy, throughVariance), tf.div(dBeta, n));
          dx = tf.mul(centredDy, tf.mul(gamma, r)) as tf.Tensor2D;
        }
        return { dx, params: [dGamma, dBeta] };
      },
    };
  }

  /** Inference mode: the frozen running statistics, the same affine map for every row. */
  private inferencePass(x: tf.Tensor2D): LayerPass {
    const centred = tf.sub(x, this.movingMean) as tf.Tensor2D;
    const inverseStd = tf.rsqrt(tf.add(this.movingVariance, this.epsilon));
    const output = tf.add(tf.mul(centred, tf.mul(inverseStd, this.gamma)), this.beta) as tf.Tensor2D;
    return {
      output,
      saved: [centred, inverseStd, this.gamma],
      backward: (dy, [xc, r, gamma], inputGradient) => ({
        dx: inputGradient ? (tf.mul(dy, tf.mul(gamma, r)) as tf.Tensor2D) : null,
        params: [tf.mul(columnSums(tf.mul(dy, xc) as tf.Tensor2D), r), columnSums(dy)],
      }),
    };
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
