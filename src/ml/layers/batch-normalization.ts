import * as tf from '@tensorflow/tfjs';
import type { FrozenOp } from '../frozen-model';
import { applyWithCustomGradient } from './custom-gradient';
import type { Buffer, ForwardContext, Layer, LayerPass, Param } from './layer';
import { columnSums } from './matrix';

export interface BatchNormalizationArgs {
  name: string;
  units: number;
  /**
   * Keras convention, default 0.99: running = momentum·running + (1 − momentum)·batch, once the
   * average has warmed up (see `runningUpdateWeights`). PyTorch's `momentum` is the weight of the new
   * batch, i.e. 1 − this value.
   */
  momentum?: number;
  /** Added to the variance before the square root. Default 0.001. */
  epsilon?: number;
}

/** A training-mode pass, with the statistics the running averages move to. */
export interface BatchNormPass extends LayerPass {
  mean: tf.Tensor;
  /** Biased (divide by the count): what the batch is normalized with. */
  variance: tf.Tensor;
  /**
   * The unbiased estimate of the variance (divide by count − 1), which the running variance
   * moves to: the running variance estimates the population's, which inference uses.
   */
  unbiasedVariance: tf.Tensor;
}

/** The unbiased variance of n rows from their biased one: n/(n − 1) times it. */
export function unbiased(variance: tf.Tensor, n: number): tf.Tensor {
  return n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
}

/** Σ over the rows that share one set of statistics (the batch, or all replicas' shards). */
export type BatchSum = (t: tf.Tensor2D) => tf.Tensor1D;

/**
 * Batch normalization over the batch axis of a [batch, units] input.
 * Training: normalize with the mini-batch mean and biased variance, and move the running
 * statistics towards the batch's mean and unbiased variance (n/(n − 1) times the biased one), with
 * the Keras rule corrected for its start (`startWeight`, `runningUpdateWeights`). Inference: the
 * running statistics, so one row's output never depends on the other rows.
 *
 * Why the unbiased variance: the running variance estimates the variance of the population the
 * batches are drawn from, and the biased batch variance underestimates it by (n − 1)/n; with it,
 * inference normalized every unit to a variance of n/(n − 1) (3 % high at batch 32) where
 * training normalizes to 1. The original algorithm (Ioffe & Szegedy 2015, Algorithm 2:
 * Var[x] = m/(m − 1)·E_B[σ²_B]) and PyTorch store the unbiased one; Keras stores the biased one.
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
  /**
   * mᵗ after t training steps: the weight the plain Keras average would still give its starting
   * value (1 fresh, 0 once warm). A buffer, saved with the running statistics.
   */
  readonly startWeight: tf.Variable;
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
    this.startWeight = tf.variable(tf.scalar(1), false);
    this.params = [
      { name: `${args.name}/gamma`, role: 'gamma', variable: this.gamma },
      { name: `${args.name}/beta`, role: 'beta', variable: this.beta },
    ];
    this.buffers = [
      { name: `${args.name}/moving_mean`, variable: this.movingMean },
      { name: `${args.name}/moving_variance`, variable: this.movingVariance },
      // Weights saved before it existed hold plain Keras averages: they continue as such (warm).
      { name: `${args.name}/start_weight`, variable: this.startWeight, whenAbsent: 0 },
    ];
  }

  apply(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    return applyWithCustomGradient(this, x, ctx);
  }

  forward(x: tf.Tensor2D, ctx: ForwardContext): LayerPass {
    if (!ctx.training) return this.inferencePass(x);
    const pass = this.trainingPass(x);
    if (ctx.bufferUpdates) {
      const { batchWeight, startWeight } = this.runningUpdateWeights();
      // running + w·(batch − running) = (1 − w)·running + w·batch.
      const average = (r: tf.Variable, b: tf.Tensor) => tf.add(r, tf.mul(tf.sub(b, r), batchWeight));
      // kept: the engine disposes forward-pass intermediates before the update is applied.
      ctx.bufferUpdates.push(
        { variable: this.movingMean, value: tf.keep(average(this.movingMean, pass.mean)) },
        { variable: this.movingVariance, value: tf.keep(average(this.movingVariance, pass.unbiasedVariance)) },
        { variable: this.startWeight, value: tf.keep(startWeight) },
      );
    }
    return pass;
  }

  /**
   * The weight of the batch in this step's update, and the new `startWeight`: the Keras rule
   * with Adam's bias correction. The Keras average started from zero and divided by 1 − mᵗ (the
   * total weight it has given the batches after t steps) is, as a recursion on the stored,
   * corrected value,
   *   running ← running + ((1 − m)/(1 − mᵗ))·(batch − running).
   * Uncorrected, the rule from the initial (0, 1) has moved only 1 − mᵗ of the way after t steps
   * — a third after 40 steps at m = 0.99, one epoch of a small dataset — so the inference-mode
   * metrics of the first epochs (early stopping, the diagnosis) would use statistics that are
   * mostly the initial ones. Corrected, the first step takes the batch's statistics (its weight is
   * exactly 1) and the first steps average the batches nearly evenly. mᵗ → 0: once it is below
   * float32's resolution at 1 (after about 1,720 steps at m = 0.99) the batch's weight is 1 − m,
   * the Keras rule. What is stored is what inference uses: freezing needs nothing else.
   * bench/batch-norm-warmup.ts measures this against the alternatives (README, batch norm).
   */
  private runningUpdateWeights(): { batchWeight: tf.Tensor; startWeight: tf.Tensor } {
    // m as float32 and 1 − m from it (exact): the first step's weight is exactly 1.
    const m = Math.fround(this.momentum);
    const startWeight = tf.mul(this.startWeight, m);
    return { batchWeight: tf.div(1 - m, tf.sub(1, startWeight)), startWeight };
  }

  /** Training mode: the whole mini-batch's mean and biased variance. */
  protected trainingPass(x: tf.Tensor2D): BatchNormPass {
    const n = x.shape[0];
    const mean = tf.div(columnSums(x), n);
    const centred = tf.sub<tf.Tensor2D>(x, mean);
    const variance = tf.div(columnSums(tf.square(centred)), n);
    return {
      ...this.batchPass(centred, variance, columnSums),
      mean,
      variance,
      unbiasedVariance: unbiased(variance, n),
    };
  }

  /**
   * (x − μ)·r·γ + β, r = 1/sqrt(σ² + ε), given x_c = x − μ, where μ and σ² are the statistics of
   * the rows of x_c, summed over them by `batchSum`; the backward step differentiates through
   * the statistics too.
   */
  protected batchPass(centred: tf.Tensor2D, variance: tf.Tensor, batchSum: BatchSum): LayerPass {
    const n = centred.shape[0];
    const inverseStd = tf.rsqrt(tf.add(variance, this.epsilon));
    const output = tf.add<tf.Tensor2D>(tf.mul(centred, tf.mul(inverseStd, this.gamma)), this.beta);
    return {
      output,
      saved: [centred, inverseStd, this.gamma],
      backward: (dy, [xc, r, gamma], inputGradient) => {
        const dBeta = batchSum(dy);
        const dGamma = tf.mul(batchSum(tf.mul<tf.Tensor2D>(dy, xc)), r);
        let dx: tf.Tensor2D | null = null;
        if (inputGradient) {
          const throughVariance = tf.mul(xc, tf.mul(r, tf.div(dGamma, n)));
          const centredDy = tf.sub(tf.sub(dy, throughVariance), tf.div(dBeta, n));
          dx = tf.mul<tf.Tensor2D>(centredDy, tf.mul(gamma, r));
        }
        return { dx, params: [dGamma, dBeta] };
      },
    };
  }

  /** Inference mode: the frozen running statistics, the same affine map for every row. */
  private inferencePass(x: tf.Tensor2D): LayerPass {
    const centred = tf.sub<tf.Tensor2D>(x, this.movingMean);
    const inverseStd = tf.rsqrt(tf.add(this.movingVariance, this.epsilon));
    const output = tf.add<tf.Tensor2D>(tf.mul(centred, tf.mul(inverseStd, this.gamma)), this.beta);
    return {
      output,
      saved: [centred, inverseStd, this.gamma],
      backward: (dy, [xc, r, gamma], inputGradient) => ({
        dx: inputGradient ? tf.mul<tf.Tensor2D>(dy, tf.mul(gamma, r)) : null,
        params: [tf.mul(columnSums(tf.mul<tf.Tensor2D>(dy, xc)), r), columnSums(dy)],
      }),
    };
  }

  /**
   * Inference-mode BN is the affine map x·s + (β − μ·s) with s = γ / sqrt(σ² + ε), from the
   * stored running statistics (already corrected for their start).
   */
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
