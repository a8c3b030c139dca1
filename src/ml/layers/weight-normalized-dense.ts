import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../random';
import type { FrozenOp } from '../frozen-model';
import type { Initializer } from '../spec';
import { applyWithCustomGradient } from './custom-gradient';
import { initBias, initKernel, LAYER_DEFAULT_INITIALIZER } from './init';
import type { Buffer, ForwardContext, Layer, LayerPass, Param } from './layer';
import { columnSums, columnSumsOfRightOperand, matMulTransposeA, matMulTransposeB } from './matrix';

export interface WeightNormalizedDenseArgs {
  name: string;
  inputSize: number;
  units: number;
  /**
   * The initial direction v (and, for torch-default, the bias); g starts at ‖v‖ so the initial w
   * is v itself. Default LAYER_DEFAULT_INITIALIZER (the network always passes one).
   */
  init?: Initializer;
  rng: Rng;
}

/**
 * The norm floor as a share of each column's initial length: ‖v_j‖ counts as at least
 * NORM_FLOOR·‖v_j(0)‖ (see WeightNormalizedDense for why). Shared with cosine normalization.
 */
export const NORM_FLOOR = 0.1;

/** Squared floors never go below this (‖v‖ floored at 1e-6, as tf.math.l2_normalize does). */
export const WEIGHT_NORM_EPSILON = 1e-12;

/**
 * Weight normalization (Salimans & Kingma, 2016): y = x·W + b with each output unit's weight
 * vector reparametrized as w_j = g_j · v_j / ‖v_j‖ (v_j is column j of the [inputSize, units]
 * direction matrix). Direction v and length g are trained separately; at inference W is a
 * constant dense kernel. v is the parameter regularization treats as the kernel.
 *
 * The norm floor. The gradient with respect to v_j is (g_j/‖v_j‖)(I − v̂_j v̂_jᵀ)·G_j, G_j being
 * what a plain dense unit would get: it grows without bound as ‖v_j‖ → 0, and at v_j = 0 the
 * direction, hence w_j, has no limit at all. Training alone never gets there (the gradient is
 * orthogonal to v, so SGD only lengthens v), but penalties on v do: L1, L2 and weight decay
 * shrink ‖v‖ without changing w, and proximal L1 zeroes whole columns. With an absolute floor of
 * 1e-6 such a column got 10⁶·g·G and one SGD step threw ‖v‖ to 10²–10³. So ‖v_j‖ is floored at
 * τ_j = NORM_FLOOR·‖v_j(0)‖, a tenth of its initial length (kept as a buffer, so a checkpoint
 * carries it): above τ_j the layer is exactly weight normalization; below it w_j = g_j·v_j/τ_j,
 * a dense unit with gain g_j/τ_j, so w_j fades continuously to 0 as v_j does (a zeroed column is
 * a pruned unit, as in a plain dense layer, and can come back like one), and the gradient with
 * respect to v_j is at most g_j/τ_j·‖G_j‖ = 10·(g_j/g_j(0))·‖G_j‖ everywhere. Ruled out: a zero
 * gradient at v_j = 0 only ("a dead unit") leaves the 1/‖v‖ growth just above zero (‖kernels‖
 * still jumped 2.7 → 8.2 on the data of test/ml/zero-columns.test.ts); excluding v from L1
 * loses the sparsity L1 is asked for.
 *
 * Gradients in closed form: with W's gradient G = xᵀ·dy, s_j = ‖v_j‖² and r_j = 1/sqrt(s_j)
 * (floored as above), dg_j = r_j·Σ_i G_ij·v_ij and dv = g·r·G − g·r³·(Σ_i G_ij·v_ij)·v, the
 * second term only where s_j is above the floor (below it the norm is a constant).
 */
export class WeightNormalizedDense implements Layer {
  readonly name: string;
  readonly params: Param[];
  readonly buffers: Buffer[];
  readonly v: tf.Variable;
  readonly g: tf.Variable;
  readonly bias: tf.Variable;
  /** τ_j² = (NORM_FLOOR·‖v_j(0)‖)², at least WEIGHT_NORM_EPSILON: a constant, not trained. */
  readonly squaredNormFloor: tf.Variable;
  readonly inputSize: number;
  readonly units: number;

  constructor(args: WeightNormalizedDenseArgs) {
    if (!Number.isInteger(args.units) || args.units < 1) {
      throw new Error(`Dense units must be a positive integer, received ${args.units}`);
    }
    this.name = args.name;
    this.inputSize = args.inputSize;
    this.units = args.units;
    const init = args.init ?? LAYER_DEFAULT_INITIALIZER;
    const v = initKernel(args.rng, args.inputSize, args.units, init);
    this.v = tf.variable(v, true);
    const initialSquares = tf.sum(tf.square(v), 0);
    this.g = tf.variable(tf.sqrt(initialSquares), true);
    this.bias = tf.variable(initBias(args.rng, args.inputSize, args.units, init), true);
    this.squaredNormFloor = tf.variable(
      tf.maximum(tf.mul(initialSquares, NORM_FLOOR ** 2), WEIGHT_NORM_EPSILON),
      false,
    );
    this.params = [
      { name: `${args.name}/v`, role: 'kernel', variable: this.v },
      { name: `${args.name}/g`, role: 'gain', variable: this.g },
      { name: `${args.name}/bias`, role: 'bias', variable: this.bias },
    ];
    this.buffers = [{ name: `${args.name}/squared_norm_floor`, variable: this.squaredNormFloor }];
  }

  /** w_j = g_j · v_j / ‖v_j‖ (the forward pass's kernel; not differentiable on its own). */
  kernel(): tf.Tensor2D {
    return tf.tidy(() => {
      const inverseNorm = tf.rsqrt(tf.maximum(columnSums(tf.square(this.v) as tf.Tensor2D), this.squaredNormFloor));
      return tf.mul<tf.Tensor2D>(this.v, tf.mul(this.g, inverseNorm));
    });
  }

  apply(x: tf.Tensor2D, ctx: ForwardContext = { training: false }): tf.Tensor2D {
    return applyWithCustomGradient(this, x, ctx);
  }

  forward(x: tf.Tensor2D): LayerPass {
    const v = this.v as tf.Tensor2D;
    const squares = columnSums(tf.square<tf.Tensor2D>(v));
    const inverseNorm = tf.rsqrt(tf.maximum(squares, this.squaredNormFloor));
    // 1 where the norm is above its floor, as tf.maximum's gradient passes it (a ≥ b).
    const active = tf.cast(tf.greaterEqual(squares, this.squaredNormFloor), 'float32');
    const factor = tf.mul(this.g, inverseNorm);
    const w = tf.mul<tf.Tensor2D>(v, factor);
    return {
      output: tf.add<tf.Tensor2D>(tf.matMul(x, w), this.bias),
      saved: [x, v, w, inverseNorm, factor, active],
      backward: (dy, [input, vs, ws, r, gr, on], inputGradient) => {
        const gradW = matMulTransposeA(input as tf.Tensor2D, dy);
        const projection = columnSums(tf.mul<tf.Tensor2D>(gradW, vs)); // Σ_i G_ij·v_ij
        const dg = tf.mul(projection, r);
        const dv = tf.sub(tf.mul(gradW, gr), tf.mul(vs, tf.mul(tf.mul(gr, tf.square(r)), tf.mul(projection, on))));
        return {
          dx: inputGradient ? matMulTransposeB(dy, ws as tf.Tensor2D) : null,
          params: [dv, dg, columnSumsOfRightOperand(dy)],
        };
      },
    };
  }

  /** The constant kernel w = g·v/max(‖v‖, τ), computed in float64 and stored as float32. */
  freeze(): FrozenOp[] {
    const v = this.v.dataSync();
    const g = this.g.dataSync();
    const floor = this.squaredNormFloor.dataSync();
    const { inputSize, units } = this;
    const kernel = new Float32Array(v.length);
    for (let j = 0; j < units; j++) {
      let squares = 0;
      for (let i = 0; i < inputSize; i++) squares += v[i * units + j] ** 2;
      const factor = g[j] / Math.sqrt(Math.max(squares, floor[j]));
      for (let i = 0; i < inputSize; i++) kernel[i * units + j] = v[i * units + j] * factor;
    }
    return [{ op: 'dense', inputSize, units, kernel, bias: Float32Array.from(this.bias.dataSync()) }];
  }
}
