import * as tf from '@tensorflow/tfjs';
import type { Activation } from './spec';

/**
 * The activation functions by name, as plain tf ops: shared by the Activation layer, the frozen
 * inference form and the serving executor (its own module so that none of them imports another).
 */
export function activate(x: tf.Tensor2D, fn: Activation): tf.Tensor2D {
  switch (fn) {
    case 'relu':
      return tf.relu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'elu':
      return tf.elu(x);
    case 'selu':
      return tf.selu(x);
    case 'linear':
      return x;
  }
}
