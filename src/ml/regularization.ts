import * as tf from '@tensorflow/tfjs';
import type { RegularizationSpec } from '../schemas/training-request.schema';
import type { Param } from './layers/layer';

/**
 * α₁·Σ|w| + α₂·Σw² over kernels only. Callers pass `network.kernels`; this function refuses
 * anything else so that a bias or a normalization parameter can never be penalized by mistake.
 */
export function kernelPenalty(kernels: Param[], reg: Pick<RegularizationSpec, 'l1' | 'l2'>): tf.Scalar {
  let total: tf.Scalar = tf.scalar(0);
  for (const param of kernels) {
    if (param.role !== 'kernel') throw new Error(`${param.name} is not a kernel and is never penalized`);
    if (reg.l1 > 0) total = tf.add(total, tf.mul(tf.sum(tf.abs(param.variable)), reg.l1));
    if (reg.l2 > 0) total = tf.add(total, tf.mul(tf.sum(tf.square(param.variable)), reg.l2));
  }
  return total;
}
