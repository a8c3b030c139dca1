import * as tf from '@tensorflow/tfjs';
import { denseRows } from './dense';
import { checkWidth, type OpDefinition } from './op-definition';

/**
 * Cosine normalization: y_j = Σ_i x̂_i·kernel_ij with x̂ = x / sqrt(max(‖x‖², epsilon)); the
 * kernel's columns already hold s·w_j/‖w_j‖.
 */
export interface CosineOp {
  op: 'cosine';
  inputSize: number;
  units: number;
  kernel: Float32Array;
  epsilon: number;
}

export const cosine: OpDefinition<CosineOp> = {
  outWidth: (op, width) => {
    checkWidth(op.op, op.inputSize, width);
    return op.units;
  },
  multiplyAdds: (op) => op.inputSize * op.units,
  opensLayer: true,
  js: (op) => ({
    inPlace: false,
    run: (x, out, rows) => {
      normalizeRows(x, rows, op.inputSize, op.epsilon);
      denseRows(x, out, rows, op.inputSize, op.units, op.kernel, null);
    },
  }),
  tf: (op) => {
    const kernel = tf.tensor2d(op.kernel, [op.inputSize, op.units]);
    return {
      tensors: [kernel],
      run: (h) => {
        const xHat = tf.mul(h, tf.rsqrt(tf.maximum(tf.sum(tf.square(h), 1, true), op.epsilon)));
        return tf.matMul(xHat, kernel);
      },
    };
  },
  exportAs: {
    exportable: false,
    reason:
      'uses cosine normalization, y = (x/‖x‖)·(s·w/‖w‖): its input is divided by its own norm, ' +
      'and TensorFlow.js has no standard layer that does that (a Dense layer computes x·w), so loading it ' +
      'would need a custom layer class; train with another normalization to export',
  },
};

/** x ← x / sqrt(max(‖x‖², ε)) per row (cosine normalization's input). */
function normalizeRows(x: Float32Array, rows: number, width: number, epsilon: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let squares = 0;
    for (let j = 0; j < width; j++) squares += x[o + j] * x[o + j];
    const inv = 1 / Math.sqrt(Math.max(squares, epsilon));
    for (let j = 0; j < width; j++) x[o + j] *= inv;
  }
}
