import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../random';
import type { FrozenOp } from '../frozen-model';
import type { Initializer } from '../spec';
import { applyWithCustomGradient } from './custom-gradient';
import { initKernel, LAYER_DEFAULT_INITIALIZER } from './init';
import { NORM_FLOOR } from './weight-normalized-dense';
import type { Buffer, ForwardContext, Layer, LayerPass, Param } from './layer';
import { columnSums, matMulTransposeA, matMulTransposeB, rowSums } from './matrix';

export interface CosineDenseArgs {
  name: string;
  inputSize: number;
  units: number;
  /** The (initial) scale s in s·cos(w_j, x). Default 1: outputs in [−1, 1]. */
  scale?: number;
  /** Train s (one scalar shared by the layer's units) or keep it fixed. Default true. */
  learnScale?: boolean;
  /**
   * Default LAYER_DEFAULT_INITIALIZER (the network always passes one). Only the directions of
   * the initial weights matter (there is no bias, so torch-default's bias draw does not apply).
   */
  init?: Initializer;
  rng: Rng;
}

/**
 * Squared norms below this count as this, as tf.math.l2_normalize does: ‖x‖ is floored at 1e-6,
 * so an all-zero row (e.g. every ReLU of the previous layer off) gives 0, not NaN. ‖w_j‖'s floor
 * is relative to its initial length instead (see CosineDense); this is its lower bound.
 */
export const COSINE_EPSILON = 1e-12;

/**
 * Cosine normalization (Luo et al., 2017): the dot product of a dense layer is replaced by the
 * cosine similarity, y_j = s · (w_j·x) / (‖w_j‖·‖x‖), normalizing data and parameters together;
 * the output is bounded by |s|. There is no bias (it would unbound the output). The same in
 * training and inference.
 *
 * The kernel's norm floor. The gradient with respect to w_j is (s/‖w_j‖)(I − ŵ_j ŵ_jᵀ)·x̂ᵀ·dy_j,
 * unbounded as ‖w_j‖ → 0, and a column at zero has no direction. L1 shrinks ‖w‖ without
 * changing the output, and proximal L1 zeroes whole columns: with an absolute floor of 1e-6 such
 * a column got 10⁶·s·x̂ᵀ·dy and one SGD step threw it far out. As for weight normalization
 * (weight-normalized-dense.ts, which argues the choice), ‖w_j‖ is floored at a tenth of its
 * initial length, τ_j = NORM_FLOOR·‖w_j(0)‖ (a buffer): above it the layer is exactly cosine
 * normalization; below it unit j is s·(w_j·x̂)/τ_j, which fades continuously to 0 with w_j, and
 * the gradient with respect to w_j is at most (s/τ_j)·‖x̂ᵀ·dy_j‖ everywhere. x's floor stays
 * absolute: x is data, not a parameter a penalty shrinks.
 *
 * Gradients in closed form: with c = x̂·ŵ, dc = s·dy, dx̂ = dc·ŵᵀ and dŵ = x̂ᵀ·dc, each
 * normalization u = z·r, r = 1/‖z‖ contributes du → r·du − r³·(Σ du⊙z)·z (the second term
 * only where the norm is above its floor); ds = Σ dy⊙c.
 */
export class CosineDense implements Layer {
  readonly name: string;
  readonly params: Param[];
  readonly buffers: Buffer[];
  readonly kernel: tf.Variable;
  /** τ_j² = (NORM_FLOOR·‖w_j(0)‖)², at least COSINE_EPSILON: a constant, not trained. */
  readonly squaredNormFloor: tf.Variable;
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
    const init = args.init ?? LAYER_DEFAULT_INITIALIZER;
    const kernel = initKernel(args.rng, args.inputSize, args.units, init);
    this.kernel = tf.variable(kernel, true);
    this.squaredNormFloor = tf.variable(
      tf.maximum(tf.mul(tf.sum(tf.square(kernel), 0), NORM_FLOOR ** 2), COSINE_EPSILON),
      false,
    );
    this.params = [{ name: `${args.name}/kernel`, role: 'kernel', variable: this.kernel }];
    this.buffers = [{ name: `${args.name}/squared_norm_floor`, variable: this.squaredNormFloor }];
    if (learnScale) {
      this.scale = tf.variable(tf.tensor1d([scale]), true);
      this.params.push({ name: `${args.name}/scale`, role: 'scale', variable: this.scale });
    } else {
      this.scale = scale;
    }
  }

  apply(x: tf.Tensor2D, ctx: ForwardContext = { training: false }): tf.Tensor2D {
    return applyWithCustomGradient(this, x, ctx);
  }

  forward(x: tf.Tensor2D): LayerPass {
    const w = this.kernel as tf.Tensor2D;
    const xSquares = rowSums(tf.square<tf.Tensor2D>(x));
    const xInverse = tf.rsqrt(tf.maximum(xSquares, COSINE_EPSILON));
    const wSquares = columnSums(tf.square<tf.Tensor2D>(w));
    const wInverse = tf.rsqrt(tf.maximum(wSquares, this.squaredNormFloor));
    const xHat = tf.mul<tf.Tensor2D>(x, xInverse);
    const wHat = tf.mul<tf.Tensor2D>(w, wInverse);
    const cosine = tf.matMul(xHat, wHat);
    // 1 where a norm is above its floor, as tf.maximum's gradient passes it (a ≥ b).
    const xActive = tf.cast(tf.greaterEqual(xSquares, COSINE_EPSILON), 'float32');
    const wActive = tf.cast(tf.greaterEqual(wSquares, this.squaredNormFloor), 'float32');
    const scale = typeof this.scale === 'number' ? tf.scalar(this.scale) : this.scale;
    return {
      output: tf.mul<tf.Tensor2D>(cosine, scale),
      saved: [x, w, xHat, wHat, xInverse, wInverse, xActive, wActive, cosine, scale],
      backward: (dy, saved, inputGradient) => {
        const [xs, ws, xh, wh, rx, rw, onX, onW, c, s] = saved as tf.Tensor2D[];
        const dc = tf.mul<tf.Tensor2D>(dy, s);
        const dwHat = matMulTransposeA(xh, dc);
        const dw = normalizationGradient(dwHat, ws, rw, tf.mul(columnSums(tf.mul<tf.Tensor2D>(dwHat, ws)), onW));
        const params: tf.Tensor[] = [dw];
        if (typeof this.scale !== 'number') params.push(tf.reshape(tf.sum(tf.mul(dy, c)), [1]));
        let dx: tf.Tensor2D | null = null;
        if (inputGradient) {
          const dxHat = matMulTransposeB(dc, wh);
          dx = normalizationGradient(dxHat, xs, rx, tf.mul(rowSums(tf.mul<tf.Tensor2D>(dxHat, xs)), onX));
        }
        return { dx, params };
      },
    };
  }

  /** The kernel becomes s·w_j/max(‖w_j‖, τ_j) (float64, stored as float32); x is normalized at run time. */
  freeze(): FrozenOp[] {
    const w = this.kernel.dataSync();
    const floor = this.squaredNormFloor.dataSync();
    const s = typeof this.scale === 'number' ? this.scale : this.scale.dataSync()[0];
    const { inputSize, units } = this;
    const kernel = new Float32Array(w.length);
    for (let j = 0; j < units; j++) {
      let squares = 0;
      for (let i = 0; i < inputSize; i++) squares += w[i * units + j] ** 2;
      const factor = s / Math.sqrt(Math.max(squares, floor[j]));
      for (let i = 0; i < inputSize; i++) kernel[i * units + j] = w[i * units + j] * factor;
    }
    return [{ op: 'cosine', inputSize, units, kernel, epsilon: COSINE_EPSILON }];
  }
}

/** Through u = z·r with r = 1/‖z‖: du ↦ r·du − r³·p·z, p = Σ du⊙z over the norm's axis. */
function normalizationGradient(du: tf.Tensor2D, z: tf.Tensor2D, r: tf.Tensor, p: tf.Tensor): tf.Tensor2D {
  return tf.sub<tf.Tensor2D>(tf.mul(du, r), tf.mul(z, tf.mul(tf.mul(tf.square(r), r), p)));
}
