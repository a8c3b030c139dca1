import * as tf from '@tensorflow/tfjs';
import type { FrozenOp } from '../frozen-model';
import type { Buffer, Layer, Param } from './layer';

export interface LayerNormalizationArgs {
  name: string;
  units: number;
  /** Added to the variance before the square root. Default 0.001. */
  epsilon?: number;
}

/**
 * Layer normalization: statistics per sample across the layer's units,
 * â = (a − μ) / sqrt(σ² + ε), h = g ⊙ â + b. The same in training and inference, and
 * independent of the batch size (works for a batch of one).
 */
export class LayerNormalization implements Layer {
  readonly name: string;
  readonly params: Param[];
  readonly buffers: Buffer[] = [];
  readonly gain: tf.Variable;
  readonly bias: tf.Variable;
  readonly epsilon: number;

  constructor(args: LayerNormalizationArgs) {
    this.epsilon = args.epsilon ?? 1e-3;
    if (!(this.epsilon > 0)) throw new Error(`Expected epsilon > 0, received ${args.epsilon}`);
    this.name = args.name;
    this.gain = tf.variable(tf.ones([args.units]), true);
    this.bias = tf.variable(tf.zeros([args.units]), true);
    this.params = [
      { name: `${args.name}/gain`, role: 'gain', variable: this.gain },
      { name: `${args.name}/bias`, role: 'beta', variable: this.bias },
    ];
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return layerNorm(x, this.gain, this.bias, this.epsilon);
  }

  freeze(): FrozenOp[] {
    return [
      {
        op: 'layerNorm',
        gain: this.gain.dataSync() as Float32Array,
        bias: this.bias.dataSync() as Float32Array,
        epsilon: this.epsilon,
      },
    ];
  }
}

export function layerNorm(
  x: tf.Tensor2D,
  gain: tf.Tensor,
  bias: tf.Tensor,
  epsilon: number,
): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, 1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon))), gain), bias);
}
