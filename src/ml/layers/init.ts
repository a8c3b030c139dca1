import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../random';

/**
 * Initial kernels are drawn from the service's own seeded RNG in JavaScript, not from tf's,
 * so the same seed gives the same starting weights on every backend.
 * He-uniform suits ReLU-family activations, Glorot-uniform the saturating ones (Keras defaults).
 */
export function uniformKernel(
  rng: Rng,
  fanIn: number,
  fanOut: number,
  scheme: 'he' | 'glorot',
): tf.Tensor2D {
  const limit = scheme === 'he' ? Math.sqrt(6 / fanIn) : Math.sqrt(6 / (fanIn + fanOut));
  const values = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < values.length; i++) values[i] = (rng.next() * 2 - 1) * limit;
  return tf.tensor2d(values, [fanIn, fanOut]);
}
