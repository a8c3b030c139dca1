import * as tf from '@tensorflow/tfjs';
import type { FrozenOp } from '../frozen-model';
import type { Buffer, ForwardContext, Layer, Param } from './layer';

export interface DropoutArgs {
  name: string;
  /** Probability of dropping a unit, in [0, 1) (Keras and PyTorch convention). */
  rate: number;
}

/**
 * Inverted dropout: in training each unit is zeroed with probability `rate` and the kept ones
 * are divided by keep = 1 − rate, so the expected activation is unchanged and inference needs no
 * rescaling. In inference mode it is the identity, so predictions are deterministic.
 */
export class Dropout implements Layer {
  readonly name: string;
  readonly params: Param[] = [];
  readonly buffers: Buffer[] = [];
  readonly rate: number;

  constructor(args: DropoutArgs) {
    if (!(args.rate >= 0 && args.rate < 1)) {
      throw new Error(`Expected a dropout rate in [0, 1), received ${args.rate}`);
    }
    this.name = args.name;
    this.rate = args.rate;
  }

  apply(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    if (!ctx.training || this.rate === 0) return x;
    if (!ctx.rng) throw new Error('Dropout in training mode needs ctx.rng');
    const keep = 1 - this.rate;
    const uniform = tf.randomUniform(x.shape, 0, 1, 'float32', ctx.rng.seed());
    const mask = tf.div(tf.cast(tf.greaterEqual(uniform, this.rate), 'float32'), keep);
    return tf.mul(x, mask);
  }

  freeze(): FrozenOp[] {
    return [];
  }
}
