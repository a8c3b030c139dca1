import * as tf from '@tensorflow/tfjs';
import type { FrozenOp } from '../frozen-model';
import { applyWithCustomGradient } from './custom-gradient';
import type { Buffer, ForwardContext, Layer, LayerPass, Param } from './layer';
import { columnSums } from './matrix';

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
 *
 * Gradients in closed form, per row with r = 1/sqrt(σ² + ε) and d = dy⊙g:
 * dx = r·(d − mean(d) − â·mean(d⊙â)); dg = Σ_rows dy⊙â, db = Σ_rows dy.
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

  apply(x: tf.Tensor2D, ctx: ForwardContext = { training: false }): tf.Tensor2D {
    return applyWithCustomGradient(this, x, ctx);
  }

  forward(x: tf.Tensor2D): LayerPass {
    const centred = tf.sub(x, tf.mean(x, 1, true));
    const inverseStd = tf.rsqrt(tf.add(tf.mean(tf.square(centred), 1, true), this.epsilon));
    const normalized = tf.mul<tf.Tensor2D>(centred, inverseStd);
    return {
      output: tf.add<tf.Tensor2D>(tf.mul(normalized, this.gain), this.bias),
      saved: [normalized, inverseStd, this.gain],
      backward: (dy, [xHat, r, gain], inputGradient) => {
        const params = [columnSums(tf.mul<tf.Tensor2D>(dy, xHat)), columnSums(dy)];
        if (!inputGradient) return { dx: null, params };
        const d = tf.mul(dy, gain);
        const centredD = tf.sub(tf.sub(d, tf.mean(d, 1, true)), tf.mul(xHat, tf.mean(tf.mul(d, xHat), 1, true)));
        return { dx: tf.mul<tf.Tensor2D>(centredD, r), params };
      },
    };
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
