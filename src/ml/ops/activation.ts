import * as tf from '@tensorflow/tfjs';
import type { Activation } from '../spec';
import { activate } from '../activations';
import { inPlace, type OpDefinition } from './op-definition';

/** An element-wise activation; `linear` freezes to no op at all. */
export interface ActivationOp {
  op: 'activation';
  fn: Exclude<Activation, 'linear'>;
}

type ActivationKernel = (x: Float32Array, n: number) => void;

/** tf.selu's constants. */
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

/** Each activation of ml/activations.ts, element-wise in place; one per name, by type. */
const KERNELS: Record<ActivationOp['fn'], ActivationKernel> = {
  relu: (x, n) => {
    for (let i = 0; i < n; i++) if (x[i] < 0) x[i] = 0;
  },
  tanh: (x, n) => {
    for (let i = 0; i < n; i++) x[i] = Math.tanh(x[i]);
  },
  sigmoid: (x, n) => {
    for (let i = 0; i < n; i++) x[i] = 1 / (1 + Math.exp(-x[i]));
  },
  elu: (x, n) => {
    for (let i = 0; i < n; i++) if (x[i] < 0) x[i] = Math.expm1(x[i]);
  },
  selu: (x, n) => {
    for (let i = 0; i < n; i++) {
      const v = x[i];
      x[i] = SELU_SCALE * (v > 0 ? v : SELU_ALPHA * Math.expm1(v));
    }
  },
};

export const activation: OpDefinition<ActivationOp> = {
  outWidth: (_op, width) => width,
  multiplyAdds: () => 0,
  opensLayer: false,
  js: (op, width) => {
    // A stored model is decoded without a schema: name an activation this build does not know.
    if (!Object.hasOwn(KERNELS, op.fn)) throw new Error(`unknown activation "${op.fn}"`);
    const kernel = KERNELS[op.fn];
    return inPlace((x, rows) => {
      kernel(x, rows * width);
    });
  },
  tf: (op) => ({ tensors: [], run: (h) => activate(h, op.fn) }),
  exportAs: {
    exportable: true,
    // tfjs's activation names are the same as ours.
    layer: (op, name) => ({ layer: tf.layers.activation({ activation: op.fn, name: name(op.fn) }), weights: [] }),
  },
};
