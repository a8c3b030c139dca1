import * as tf from '@tensorflow/tfjs';
import { checkWidth, inPlace, type OpDefinition } from './op-definition';

/** Layer normalization, the same in training and inference: (x − μ)/sqrt(σ² + ε)·gain + bias per row. */
export interface LayerNormOp {
  op: 'layerNorm';
  gain: Float32Array;
  bias: Float32Array;
  epsilon: number;
}

export const layerNorm: OpDefinition<LayerNormOp> = {
  outWidth: (op, width) => {
    checkWidth(op.op, op.gain.length, width);
    return width;
  },
  multiplyAdds: () => 0,
  opensLayer: false,
  js: (op, width) =>
    inPlace((x, rows) => {
      layerNormRows(x, rows, width, op.gain, op.bias, op.epsilon);
    }),
  tf: (op) => {
    const gain = tf.tensor1d(op.gain);
    const bias = tf.tensor1d(op.bias);
    return {
      tensors: [gain, bias],
      run: (h) => {
        const { mean, variance } = tf.moments(h, 1, true);
        const normalized = tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, op.epsilon)));
        return tf.add(tf.mul(normalized, gain), bias);
      },
    };
  },
  exportAs: {
    exportable: true,
    layer: (op, name) => ({
      layer: tf.layers.layerNormalization({ axis: -1, epsilon: op.epsilon, name: name('layer_norm') }),
      weights: [tf.tensor1d(op.gain), tf.tensor1d(op.bias)],
    }),
  },
};

/** As tf.moments(x, 1): the row's mean and biased variance; then (x − μ)/sqrt(σ² + ε)·g + b. */
function layerNormRows(
  x: Float32Array,
  rows: number,
  width: number,
  gain: Float32Array,
  bias: Float32Array,
  epsilon: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let sum = 0;
    for (let j = 0; j < width; j++) sum += x[o + j];
    const mean = sum / width;
    let squares = 0;
    for (let j = 0; j < width; j++) squares += (x[o + j] - mean) ** 2;
    const inv = 1 / Math.sqrt(squares / width + epsilon);
    for (let j = 0; j < width; j++) x[o + j] = (x[o + j] - mean) * inv * gain[j] + bias[j];
  }
}
