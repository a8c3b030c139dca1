import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../random';
import type { FrozenOp } from '../frozen-model';
import { applyWithCustomGradient } from './custom-gradient';
import { initBias, initKernel, LAYER_DEFAULT_INITIALIZER, type Initializer } from './init';
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
 * Squared norms below this count as this (‖v‖ floored at 1e-6), as tf.math.l2_normalize does:
 * a column of v that L1 drove to all zeros gives w = 0 instead of NaN.
 */
export const WEIGHT_NORM_EPSILON = 1e-12;

/**
 * Weight normalization (Salimans & Kingma, 2016): y = x·W + b with each output unit's weight
 * vector reparametrized as w_j = g_j · v_j / ‖v_j‖ (v_j is column j of the [inputSize, units]
 * direction matrix). Direction v and length g are trained separately; at inference W is a
 * constant dense kernel. v is the parameter regularization treats as the kernel.
 *
 * Gradients in closed form: with W's gradient G = xᵀ·dy, s_j = ‖v_j‖² and r_j = 1/sqrt(s_j)
 * (floored as below), dg_j = r_j·Σ_i G_ij·v_ij and dv = g·r·G − g·r³·(Σ_i G_ij·v_ij)·v, the
 * second term only where s_j is above the floor (below it the norm is a constant).
 */
export class WeightNormalizedDense implements Layer {
  readonly name: string;
  readonly params: Param[];
  readonly buffers: Buffer[] = [];
  readonly v: tf.Variable;
  readonly g: tf.Variable;
  readonly bias: tf.Variable;
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
    this.g = tf.variable(tf.sqrt(tf.sum(tf.square(v), 0)), true);
    this.bias = tf.variable(initBias(args.rng, args.inputSize, args.units, init), true);
    this.params = [
      { name: `${args.name}/v`, role: 'kernel', variable: this.v },
      { name: `${args.name}/g`, role: 'gain', variable: this.g },
      { name: `${args.name}/bias`, role: 'bias', variable: this.bias },
    ];
  }

  /** w_j = g_j · v_j / ‖v_j‖ (the forward pass's kernel; not differentiable on its own). */
  kernel(): tf.Tensor2D {
    return tf.tidy(() => {
      const inverseNorm = tf.rsqrt(tf.maximum(columnSums(tf.square(this.v) as tf.Tensor2D), WEIGHT_NORM_EPSILON));
      return tf.mul(this.v, tf.mul(this.g, inverseNorm)) as tf.Tensor2D;
    });
  }

  apply(x: tf.Tensor2D, ctx: ForwardContext = { training: false }): tf.Tensor2D {
    return applyWithCustomGradient(this, x, ctx);
  }

  forward(x: tf.Tensor2D): LayerPass {
    const v = this.v as tf.Tensor2D;
    const squares = columnSums(tf.square(v) as tf.Tensor2D);
    const inverseNorm = tf.rsqrt(tf.maximum(squares, WEIGHT_NORM_EPSILON));
    // 1 where the norm is above its floor, as tf.maximum's gradient passes it (a ≥ b).
    const active = tf.cast(tf.greaterEqual(squares, WEIGHT_NORM_EPSILON), 'float32');
    const factor = tf.mul(this.g, inverseNorm);
    const w = tf.mul(v, factor) as tf.Tensor2D;
    return {
      output: tf.add(tf.matMul(x, w), this.bias) as tf.Tensor2D,
      saved: [x, v, w, inverseNorm, factor, active],
      backward: (dy, [input, vs, ws, r, gr, on], inputGradient) => {
        const gradW = matMulTransposeA(input as tf.Tensor2D, dy);
        const projection = columnSums(tf.mul(gradW, vs) as tf.Tensor2D); // Σ_i G_ij·v_ij
        const dg = tf.mul(projection, r);
        const dv = tf.sub(tf.mul(gradW, gr), tf.mul(vs, tf.mul(tf.mul(gr, tf.square(r)), tf.mul(projection, on))));
        return {
          dx: inputGradient ? matMulTransposeB(dy, ws as tf.Tensor2D) : null,
          params: [dv, dg, columnSumsOfRightOperand(dy)],
        };
      },
    };
  }

  /** The constant kernel w = g·v/‖v‖, computed in float64 and stored as float32. */
  freeze(): FrozenOp[] {
    const v = this.v.dataSync();
    const g = this.g.dataSync();
    const { inputSize, units } = this;
    const kernel = new Float32Array(v.length);
    for (let j = 0; j < units; j++) {
      let squares = 0;
      for (let i = 0; i < inputSize; i++) squares += v[i * units + j] ** 2;
      const factor = g[j] / Math.sqrt(Math.max(squares, WEIGHT_NORM_EPSILON));
      for (let i = 0; i < inputSize; i++) kernel[i * units + j] = v[i * units + j] * factor;
    }
    return [{ op: 'dense', inputSize, units, kernel, bias: Float32Array.from(this.bias.dataSync()) }];
  }
}
