import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../random';
import type { FrozenOp } from '../frozen-model';
import { applyWithCustomGradient } from './custom-gradient';
import type { Buffer, ForwardContext, Layer, LayerPass, Param } from './layer';

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
    return applyWithCustomGradient(this, x, ctx);
  }

  /** Training: y = x ⊙ mask, mask ∈ {0, 1/keep}; backward dx = dy ⊙ mask. */
  forward(x: tf.Tensor2D, ctx: ForwardContext): LayerPass {
    if (!ctx.training || this.rate === 0) {
      return { output: x, saved: [], backward: (dy, _, wanted) => ({ dx: wanted ? dy : null, params: [] }) };
    }
    if (!ctx.rng) throw new Error('Dropout in training mode needs ctx.rng');
    const [rows, cols] = x.shape;
    const mask = tf.tensor2d(dropoutMask(rows * cols, this.rate, ctx.rng.seed()), [rows, cols]);
    return {
      output: tf.mul(x, mask),
      saved: [mask],
      backward: (dy, [m], inputGradient) => ({ dx: inputGradient ? tf.mul<tf.Tensor2D>(dy, m) : null, params: [] }),
    };
  }

  freeze(): FrozenOp[] {
    return [];
  }
}

/**
 * `size` independent multipliers, each 0 with probability `rate` and 1/(1 − rate) otherwise,
 * drawn from the service's sfc32 generator seeded with `seed` (the stream of `new Rng(seed)`).
 * Made in JavaScript, as tf.randomUniform's values are, but without its per-value overhead and
 * the three ops that turned uniforms into a mask: a unit is kept when its 32-bit draw u has
 * u / 2³² ≥ rate, i.e. u ≥ ⌈rate·2³²⌉.
 */
export function dropoutMask(size: number, rate: number, seed: number): Float32Array {
  const mask = new Float32Array(size);
  const scale = Math.fround(1 / Math.fround(1 - rate));
  // The threshold and the draw, both shifted by −2³¹ into int32 range.
  const threshold = Math.ceil(rate * 4294967296) - 2147483648;
  const state = new Rng(seed).state();
  let a = state[0] | 0;
  let b = state[1] | 0;
  let c = state[2] | 0;
  let d = state[3] | 0;
  for (let i = 0; i < size; i++) {
    // Rng.nextUint32 on local words, in int32 arithmetic (the same bits, modulo 2³²).
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    // keep = 1 when u ≥ threshold, else 0, without a branch: (u − threshold)/2³² lies in
    // [−1, 1), so adding 1 and truncating gives the comparison. A random branch here
    // mispredicts a third of the time and costs three times the whole loop.
    const keep = (((t ^ -2147483648) - threshold) * 2.3283064365386963e-10 + 1) | 0;
    mask[i] = keep * scale;
  }
  return mask;
}
