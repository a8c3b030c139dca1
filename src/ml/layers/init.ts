import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../random';
import type { Initializer } from '../spec';

/**
 * The scheme of a layer constructed without one (tests, tools): He-uniform with a zero bias, what
 * layers drew before initialization became an option, so such callers keep their numbers. The
 * network always passes the request's scheme (model.init, default DEFAULT_INITIALIZER).
 */
export const LAYER_DEFAULT_INITIALIZER: Initializer = 'he-uniform';

/**
 * How a dense kernel (fan_in × fan_out) and its bias start. Every value is drawn from the
 * service's own seeded RNG in JavaScript, not from tf's, so the same seed gives the same starting
 * weights on every backend.
 *
 * Uniform schemes draw U(−limit, limit):
 * - he-uniform:     limit = √(6 / fan_in)               (Keras HeUniform, PyTorch kaiming_uniform_ a=0)
 * - glorot-uniform: limit = √(6 / (fan_in + fan_out))   (Keras GlorotUniform, Keras' default for
 *                                                        every activation; PyTorch xavier_uniform_)
 * - lecun-uniform:  limit = √(3 / fan_in)               (Keras LecunUniform)
 * - torch-default:  limit = 1 / √fan_in for the kernel AND the bias (fan_in of the kernel): PyTorch's
 *                   nn.Linear, whose weight is kaiming_uniform_ with a = √5, i.e.
 *                   gain = √(2 / (1 + 5)), limit = gain·√(3 / fan_in) = 1/√fan_in.
 *
 * Normal schemes are truncated as Keras truncates them (VarianceScaling "truncated_normal"): draw
 * z ~ N(0, 1), redraw while |z| > 2, and scale by σ / 0.87962566103423978 (the standard deviation
 * of N(0, 1) truncated at ±2), so the values lie within ±2σ/0.8796 ≈ ±2.27σ and their standard
 * deviation is σ itself. (PyTorch's kaiming_normal_ / xavier_normal_ do not truncate.)
 * - he-normal:      σ = √(2 / fan_in)
 * - glorot-normal:  σ = √(2 / (fan_in + fan_out))
 * - lecun-normal:   σ = √(1 / fan_in)
 *
 * Biases start at zero for every scheme but torch-default.
 */

/** The standard deviation of a standard normal truncated to [−2, 2]. */
export const TRUNCATED_NORMAL_STD = 0.87962566103423978;

type Distribution = { kind: 'uniform'; limit: number } | { kind: 'truncated-normal'; std: number };

/** The kernel's distribution under `scheme` (the formulas above). */
export function kernelDistribution(scheme: Initializer, fanIn: number, fanOut: number): Distribution {
  switch (scheme) {
    case 'he-uniform':
      return { kind: 'uniform', limit: Math.sqrt(6 / fanIn) };
    case 'glorot-uniform':
      return { kind: 'uniform', limit: Math.sqrt(6 / (fanIn + fanOut)) };
    case 'lecun-uniform':
      return { kind: 'uniform', limit: Math.sqrt(3 / fanIn) };
    case 'torch-default':
      return { kind: 'uniform', limit: 1 / Math.sqrt(fanIn) };
    case 'he-normal':
      return { kind: 'truncated-normal', std: Math.sqrt(2 / fanIn) };
    case 'glorot-normal':
      return { kind: 'truncated-normal', std: Math.sqrt(2 / (fanIn + fanOut)) };
    case 'lecun-normal':
      return { kind: 'truncated-normal', std: Math.sqrt(1 / fanIn) };
  }
}

/** The bias's bound: 1/√fan_in under torch-default (as nn.Linear), otherwise 0 (zeros). */
export function biasLimit(scheme: Initializer, fanIn: number): number {
  return scheme === 'torch-default' ? 1 / Math.sqrt(fanIn) : 0;
}

/** A fan_in × fan_out kernel drawn under `scheme`. */
export function initKernel(rng: Rng, fanIn: number, fanOut: number, scheme: Initializer): tf.Tensor2D {
  return tf.tensor2d(draw(rng, fanIn * fanOut, kernelDistribution(scheme, fanIn, fanOut)), [fanIn, fanOut]);
}

/** The bias of a layer with `units` outputs and a fan_in × units kernel; draw it after the kernel. */
export function initBias(rng: Rng, fanIn: number, units: number, scheme: Initializer): tf.Tensor1D {
  const limit = biasLimit(scheme, fanIn);
  if (limit === 0) return tf.zeros([units]);
  return tf.tensor1d(draw(rng, units, { kind: 'uniform', limit }));
}

function draw(rng: Rng, count: number, distribution: Distribution): Float32Array {
  const values = new Float32Array(count);
  if (distribution.kind === 'uniform') {
    const { limit } = distribution;
    for (let i = 0; i < count; i++) values[i] = (rng.next() * 2 - 1) * limit;
    return values;
  }
  const scale = distribution.std / TRUNCATED_NORMAL_STD;
  for (let i = 0; i < count; i++) {
    let z: number;
    do z = standardNormal(rng);
    while (Math.abs(z) > 2);
    values[i] = z * scale;
  }
  return values;
}

/** Box–Muller, one value per two uniforms; 1 − u keeps the logarithm's argument in (0, 1]. */
function standardNormal(rng: Rng): number {
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
