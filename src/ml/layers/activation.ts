import * as tf from '@tensorflow/tfjs';
import type { Activation as ActivationName } from '../spec';
import { activate } from '../activations';
import type { FrozenOp } from '../frozen-model';
import type { Buffer, Layer, LayerPass, Param } from './layer';

/**
 * dL/dx = dy ⊙ f′(x), the same expressions as tf's gradients of these ops: for ReLU, tanh and
 * sigmoid `saved` is the output y (f′ = step(y), 1 − y², y·(1 − y)); for ELU and SELU it is the
 * input x and tf's own gradient is used.
 */
function activationGradient(fn: ActivationName, saved: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
  switch (fn) {
    case 'relu':
      return tf.mul(dy, tf.step(saved));
    case 'tanh':
      return tf.mul(tf.sub(1, tf.square(saved)), dy);
    case 'sigmoid':
      return tf.mul(dy, tf.mul(saved, tf.sub(1, saved)));
    case 'elu':
    case 'selu':
      return tf.grad((x: tf.Tensor) => activate(x as tf.Tensor2D, fn))(saved, dy) as tf.Tensor2D;
    case 'linear':
      return dy;
  }
}

export class Activation implements Layer {
  readonly params: Param[] = [];
  readonly buffers: Buffer[] = [];

  constructor(
    readonly name: string,
    readonly fn: ActivationName,
  ) {}

  /** tf's own gradients of these functions are already cheap element-wise ops. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return activate(x, this.fn);
  }

  forward(x: tf.Tensor2D): LayerPass {
    const y = activate(x, this.fn);
    // ReLU, tanh and sigmoid have derivatives in terms of the output; ELU and SELU take tf's.
    const fromOutput = this.fn !== 'elu' && this.fn !== 'selu';
    return {
      output: y,
      saved: [fromOutput ? y : x],
      backward: (dy, [saved], inputGradient) => ({
        dx: inputGradient ? activationGradient(this.fn, saved as tf.Tensor2D, dy) : null,
        params: [],
      }),
    };
  }

  freeze(): FrozenOp[] {
    return this.fn === 'linear' ? [] : [{ op: 'activation', fn: this.fn }];
  }
}
