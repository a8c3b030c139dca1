import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../random';
import type { AugmentationSpec } from './spec';

/**
 * Data augmentation for tabular rows, applied to each training batch (never to validation or
 * prediction). Gaussian noise perturbs the standardized numeric inputs only (one-hot columns
 * stay 0/1); mixup blends pairs of rows and their targets (Zhang et al., 2018).
 */
export interface Augmenter {
  /** Returns the augmented inputs and targets (one-hot or soft labels for classification). */
  apply(x: tf.Tensor2D, y: tf.Tensor2D, rng: Rng): { x: tf.Tensor2D; y: tf.Tensor2D };
}

export function createAugmenter(spec: AugmentationSpec, numericMask: Float32Array): Augmenter | null {
  const noise = spec.gaussianNoise ?? 0;
  const alpha = spec.mixup ?? 0;
  if (noise === 0 && alpha === 0) return null;
  return {
    apply(x, y, rng) {
      let xa = x;
      let ya = y;
      if (noise > 0) {
        const n = tf.randomNormal(x.shape, 0, noise, 'float32', rng.seed());
        xa = tf.add(xa, tf.mul(n, tf.tensor1d(numericMask)));
      }
      if (alpha > 0) {
        const rows = x.shape[0];
        const partner = Int32Array.from({ length: rows }, (_, i) => i);
        rng.shuffle(partner);
        const lambda = new Float32Array(rows);
        for (let i = 0; i < rows; i++) lambda[i] = sampleBeta(alpha, rng);
        const lam = tf.tensor2d(lambda, [rows, 1]);
        const other = tf.tensor1d(partner, 'int32');
        const blend = (t: tf.Tensor2D) =>
          tf.add<tf.Tensor2D>(tf.mul(t, lam), tf.mul(tf.gather(t, other), tf.sub(1, lam)));
        xa = blend(xa);
        ya = blend(ya);
      }
      return { x: xa, y: ya };
    },
  };
}

/** Beta(α, α) as X/(X+Y) with X, Y ~ Gamma(α). */
export function sampleBeta(alpha: number, rng: Rng): number {
  const a = sampleGamma(alpha, rng);
  const b = sampleGamma(alpha, rng);
  return a + b === 0 ? 0.5 : a / (a + b);
}

/** Marsaglia–Tsang; for α < 1, Gamma(α) = Gamma(α + 1)·U^(1/α). */
function sampleGamma(alpha: number, rng: Rng): number {
  if (alpha < 1) return sampleGamma(alpha + 1, rng) * Math.pow(1 - rng.next(), 1 / alpha);
  const d = alpha - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

function standardNormal(rng: Rng): number {
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
