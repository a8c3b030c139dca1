import * as tf from '@tensorflow/tfjs';
import { checkWidth, inPlace, type OpDefinition } from './op-definition';

/**
 * y = x·scale + shift per feature: inference-mode batch norm that could not be folded into a
 * neighbouring dense op (after the activation, followed by anything but dense).
 */
export interface AffineOp {
  op: 'affine';
  scale: Float32Array;
  shift: Float32Array;
}

/**
 * The export's BatchNormalization has moving mean 0 and moving variance 1 − ε, γ = scale and
 * β = shift: (x − 0)/sqrt(1 − ε + ε)·scale + shift, exactly x·scale + shift.
 */
const EXPORT_EPSILON = 1e-3;

export const affine: OpDefinition<AffineOp> = {
  outWidth: (op, width) => {
    checkWidth(op.op, op.scale.length, width);
    return width;
  },
  multiplyAdds: () => 0,
  opensLayer: false,
  js: (op, width) =>
    inPlace((x, rows) => {
      const { scale, shift } = op;
      for (let r = 0; r < rows; r++) {
        const o = r * width;
        for (let j = 0; j < width; j++) x[o + j] = x[o + j] * scale[j] + shift[j];
      }
    }),
  tf: (op) => {
    const scale = tf.tensor1d(op.scale);
    const shift = tf.tensor1d(op.shift);
    return { tensors: [scale, shift], run: (h) => tf.add(tf.mul(h, scale), shift) };
  },
  exportAs: {
    exportable: true,
    layer: (op, name) => {
      const units = op.scale.length;
      return {
        layer: tf.layers.batchNormalization({ axis: -1, epsilon: EXPORT_EPSILON, name: name('affine') }),
        weights: [
          tf.tensor1d(op.scale),
          tf.tensor1d(op.shift),
          tf.zeros([units]),
          tf.fill([units], 1 - EXPORT_EPSILON),
        ],
      };
    },
  },
};
