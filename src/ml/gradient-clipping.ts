import * as tf from '@tensorflow/tfjs';
import type { GradientClippingSpec } from './spec';

/**
 * Clips a step's gradients in place (`grads` keyed by parameter name), inside the caller's tidy:
 * first every value to [−value, value] (torch.nn.utils.clip_grad_value_), then all gradients
 * together scaled by min(1, globalNorm / (‖g‖₂ + 1e-6)) with ‖g‖₂ over every value of every
 * gradient (clip_grad_norm_, whose 1e-6 this keeps). In tensor ops only: no read back.
 */
export function clipGradients(grads: Record<string, tf.Tensor>, spec: GradientClippingSpec): void {
  const names = Object.keys(grads);
  if (spec.value !== undefined) {
    for (const name of names) grads[name] = tf.clipByValue(grads[name], -spec.value, spec.value);
  }
  if (spec.globalNorm !== undefined) {
    const squares = names.map((name) => tf.sum(tf.square(grads[name])));
    const norm = tf.sqrt(squares.length === 1 ? squares[0] : tf.addN(squares));
    const scale = tf.minimum(tf.div(spec.globalNorm, tf.add(norm, 1e-6)), 1);
    for (const name of names) grads[name] = tf.mul(grads[name], scale);
  }
}
