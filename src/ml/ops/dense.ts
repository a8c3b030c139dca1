import * as tf from '@tensorflow/tfjs';
import { checkWidth, type OpDefinition } from './op-definition';

/** y = x·W + b, W row-major [inputSize, units]. Batch norm is often folded into it (foldAffine). */
export interface DenseOp {
  op: 'dense';
  inputSize: number;
  units: number;
  kernel: Float32Array;
  bias: Float32Array;
}

export const dense: OpDefinition<DenseOp> = {
  outWidth: (op, width) => {
    checkWidth(op.op, op.inputSize, width);
    return op.units;
  },
  multiplyAdds: (op) => op.inputSize * op.units,
  opensLayer: true,
  js: (op) => ({
    inPlace: false,
    run: (x, out, rows) => {
      denseRows(x, out, rows, op.inputSize, op.units, op.kernel, op.bias);
    },
  }),
  tf: (op) => {
    const kernel = tf.tensor2d(op.kernel, [op.inputSize, op.units]);
    const bias = tf.tensor1d(op.bias);
    return { tensors: [kernel, bias], run: (h) => tf.add(tf.matMul(h, kernel), bias) };
  },
  exportAs: {
    exportable: true,
    layer: (op, name) => ({
      layer: tf.layers.dense({ units: op.units, useBias: true, name: name('dense'), kernelInitializer: 'zeros' }),
      weights: [tf.tensor2d(op.kernel, [op.inputSize, op.units]), tf.tensor1d(op.bias)],
    }),
  },
};

/**
 * out = x·W + b (no bias when null), W row-major [inputs, units]. Row by row: the row's non-zero
 * inputs are listed first (about half of them are exactly zero after a ReLU, and skipping a zero
 * changes nothing for finite weights), then added in four at a time as x_i·W[i, :], so each pass
 * over the output row does four multiply-adds per load and store. Both arrays are read in order.
 */
export function denseRows(
  x: Float32Array,
  out: Float32Array,
  rows: number,
  inputs: number,
  units: number,
  kernel: Float32Array,
  bias: Float32Array | null,
): void {
  const offsets = new Int32Array(inputs);
  const values = new Float32Array(inputs);
  for (let r = 0; r < rows; r++) {
    const o = r * units;
    if (bias) for (let j = 0; j < units; j++) out[o + j] = bias[j];
    else out.fill(0, o, o + units);
    const xo = r * inputs;
    let n = 0;
    for (let i = 0; i < inputs; i++) {
      const v = x[xo + i];
      if (v !== 0) {
        offsets[n] = i * units;
        values[n++] = v;
      }
    }
    let k = 0;
    for (; k + 4 <= n; k += 4) {
      const x0 = values[k];
      const x1 = values[k + 1];
      const x2 = values[k + 2];
      const x3 = values[k + 3];
      const w0 = offsets[k];
      const w1 = offsets[k + 1];
      const w2 = offsets[k + 2];
      const w3 = offsets[k + 3];
      for (let j = 0; j < units; j++) {
        out[o + j] += x0 * kernel[w0 + j] + x1 * kernel[w1 + j] + x2 * kernel[w2 + j] + x3 * kernel[w3 + j];
      }
    }
    for (; k < n; k++) {
      const xi = values[k];
      const w = offsets[k];
      for (let j = 0; j < units; j++) out[o + j] += xi * kernel[w + j];
    }
  }
}
