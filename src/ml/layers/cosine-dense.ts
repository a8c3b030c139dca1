import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../random';
import type { FrozenOp } from '../frozen-model';
import { uniformKernel } from './init';
import type { Buffer, Layer, Param } from './layer';

export interface CosineDenseArgs {
  name: string;
  inputSize: number;
  units: number;
  /** The (initial) scale s in s·cos(w_j, x). Default 1: outputs in [−1, 1]. */
  scale?: number;
  /** Train s (one scalar shared by the layer's units) or keep it fixed. Default true. */
  learnScale?: boolean;
  /** Default 'he'. Only the directions of the initial weights matter. */
  init?: 'he' | 'glorot';
  rng: Rng;
}

/**
 * Squared norms below this count as this, as tf.math.l2_normalize does: ‖x‖ and ‖w‖ are floored
 * at 1e-6, so an all-zero row (e.g. every ReLU of the previous layer off) gives 0, not NaN.
 */
export const COSINE_EPSILON = 1e-12;

/**
 * Cosine normalization (Luo et al., 2017): the dot product of a dense layer is replaced by the
 * cosine similarity, y_j = s · (w_j·x) / (‖w_j‖·‖x‖), normalizing data and parameters together;
 * the output is bounded by |s|. There is no bias (it would unbound the output). The same in
 * training and inference.
 */
export class CosineDense implements Layer {
  readonly name: string;
  readonly params: Param[];
  readonly buffers: Buffer[] = [];
  readonly kernel: tf.Variable;
  /** A trained parameter when learnScale, otherwise a constant. */
  readonly scale: tf.Variable | number;
  readonly inputSize: number;
  readonly units: number;

  constructor(args: CosineDenseArgs) {
    if (!Number.isInteger(args.units) || args.units < 1) {
      throw new Error(`Dense units must be a positive integer, received ${args.units}`);
    }
    const scale = args.scale ?? 1;
    if (!(Number.isFinite(scale) && scale > 0)) {
      throw new Error(`Expected a cosine scale > 0, received ${args.scale}`);
    }
    const learnScale = args.learnScale ?? true;
    this.name = args.name;
    this.inputSize = args.inputSize;
    this.units = args.units;
    this.kernel = tf.variable(uniformKernel(args.rng, args.inputSize, args.units, args.init ?? 'he'), true);
    this.params = [{ name: `${args.name}/kernel`, role: 'kernel', variable: this.kernel }];
    if (learnScale) {
      this.scale = tf.variable(tf.tensor1d([scale]), true);
      this.params.push({ name: `${args.name}/scale`, role: 'scale', variable: this.scale });
    } else {
      this.scale = scale;
    }
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    const xHat = tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), 1, true), COSINE_EPSILON)));
    const wHat = tf.mul(this.kernel, tf.rsqrt(tf.maximum(tf.sum(tf.square(this.kernel), 0), COSINE_EPSILON)));
    return tf.mul(tf.matMul(xHat, wHat as tf.Tensor2D), this.scale);
  }

  /** The kernel becomes s·w_j/‖w_j‖ (float64, stored as float32); x is normalized at run time. */
  freeze(): FrozenOp[] {
    const w = this.kernel.dataSync();
    const s = typeof this.scale === 'number' ? this.scale : this.scale.dataSync()[0];
    const { inputSize, units } = this;
    const kernel = new Float32Array(w.length);
    for (let j = 0; j < units; j++) {
      let squares = 0;
      for (let i = 0; i < inputSize; i++) squares += w[i * units + j] ** 2;
      const factor = s / Math.sqrt(Math.max(squares, COSINE_EPSILON));
      for (let i = 0; i < inputSize; i++) kernel[i * units + j] = w[i * units + j] * factor;
    }
    return [{ op: 'cosine', inputSize, units, kernel, epsilon: COSINE_EPSILON }];
  }
}
