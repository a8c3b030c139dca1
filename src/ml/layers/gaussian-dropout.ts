import * as tf from '@tensorflow/tfjs';
import type { FrozenOp } from '../frozen-model';
import { applyWithCustomGradient } from './custom-gradient';
import type { Buffer, ForwardContext, Layer, LayerPass, Param } from './layer';

export interface GaussianDropoutArgs {
  name: string;
  /** The equivalent drop probability, in [0, 1): the noise variance is rate / (1 − rate). */
  rate: number;
}

/**
 * Gaussian dropout (Srivastava et al., 2014): in training each unit is multiplied by noise drawn
 * from N(1, rate/(1 − rate)) — the mean and variance of inverted dropout's multiplier
 * Bernoulli(1 − rate)/(1 − rate) — without zeroing any unit. Inference mode is the identity.
 */
export class GaussianDropout implements Layer {
  readonly name: string;
  readonly params: Param[] = [];
  readonly buffers: Buffer[] = [];
  readonly rate: number;

  constructor(args: GaussianDropoutArgs) {
    if (!(args.rate >= 0 && args.rate < 1)) {
      throw new Error(`Expected a dropout rate in [0, 1), received ${args.rate}`);
    }
    this.name = args.name;
    this.rate = args.rate;
  }

  /** The noise's standard deviation, sqrt(rate / (1 − rate)). */
  get stddev(): number {
    return Math.sqrt(this.rate / (1 - this.rate));
  }

  apply(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    if (!ctx.training || this.rate === 0) return x;
    return applyWithCustomGradient(this, x, ctx);
  }

  /** Training: y = x ⊙ noise; backward dx = dy ⊙ noise. */
  forward(x: tf.Tensor2D, ctx: ForwardContext): LayerPass {
    if (!ctx.training || this.rate === 0) {
      return { output: x, saved: [], backward: (dy, _, wanted) => ({ dx: wanted ? dy : null, params: [] }) };
    }
    if (!ctx.rng) throw new Error('Gaussian dropout in training mode needs ctx.rng');
    const noise = tf.randomNormal(x.shape, 1, this.stddev, 'float32', ctx.rng.seed());
    return {
      output: tf.mul(x, noise),
      saved: [noise],
      backward: (dy, [n], inputGradient) => ({ dx: inputGradient ? tf.mul<tf.Tensor2D>(dy, n) : null, params: [] }),
    };
  }

  freeze(): FrozenOp[] {
    return [];
  }
}
