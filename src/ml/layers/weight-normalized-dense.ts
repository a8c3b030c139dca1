import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../random';
import type { FrozenOp } from '../frozen-model';
import { uniformKernel } from './init';
import type { Buffer, Layer, Param } from './layer';

export interface WeightNormalizedDenseArgs {
  name: string;
  inputSize: number;
  units: number;
  /** Default 'he'. The initial direction v; g starts at ‖v‖ so the initial w is v itself. */
  init?: 'he' | 'glorot';
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
    const v = uniformKernel(args.rng, args.inputSize, args.units, args.init ?? 'he');
    this.v = tf.variable(v, true);
    this.g = tf.variable(tf.sqrt(tf.sum(tf.square(v), 0)), true);
    this.bias = tf.variable(tf.zeros([args.units]), true);
    this.params = [
      { name: `${args.name}/v`, role: 'kernel', variable: this.v },
      { name: `${args.name}/g`, role: 'gain', variable: this.g },
      { name: `${args.name}/bias`, role: 'bias', variable: this.bias },
    ];
  }

  /** w_j = g_j · v_j / ‖v_j‖, as a differentiable tensor. */
  kernel(): tf.Tensor2D {
    const inverseNorm = tf.rsqrt(tf.maximum(tf.sum(tf.square(this.v), 0), WEIGHT_NORM_EPSILON));
    return tf.mul(this.v, tf.mul(this.g, inverseNorm));
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(x, this.kernel()), this.bias);
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
