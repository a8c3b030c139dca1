import * as tf from '@tensorflow/tfjs';
import type { Activation as ActivationName } from '../../schemas/training-request.schema';
import type { FrozenOp } from '../frozen-model';
import type { Buffer, Layer, Param } from './layer';

export function activate(x: tf.Tensor2D, fn: ActivationName): tf.Tensor2D {
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

export class Activation implements Layer {
  readonly params: Param[] = [];
  readonly buffers: Buffer[] = [];

  constructor(
    readonly name: string,
    readonly fn: ActivationName,
  ) {}

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return activate(x, this.fn);
  }

  freeze(): FrozenOp[] {
    return this.fn === 'linear' ? [] : [{ op: 'activation', fn: this.fn }];
  }
}
