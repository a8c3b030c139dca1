import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../random';
import type { FrozenOp } from '../frozen-model';

/**
 * What a parameter is decides whether it is regularized: penalties (L1, L2, weight decay) apply
 * to kernels only. Weight normalization's direction v and cosine normalization's w are kernels.
 * Biases, normalization gains/shifts and cosine normalization's scale shift or rescale every
 * input alike, so penalizing them does little against overfitting (concepts.md, "Biases are not
 * regularized").
 */
export type ParamRole = 'kernel' | 'bias' | 'gamma' | 'beta' | 'gain' | 'scale';

export interface Param {
  /** Unique within a network, e.g. "hidden0/dense/kernel". */
  name: string;
  role: ParamRole;
  variable: tf.Variable;
}

/** Non-trainable state that is saved with the model, e.g. batch norm's running statistics. */
export interface Buffer {
  name: string;
  variable: tf.Variable;
  /** Every element's value when restored weights lack the buffer (saved before it existed). */
  whenAbsent?: number;
}

/** A new value for a buffer, computed during a training forward pass, applied after the step. */
export interface BufferUpdate {
  variable: tf.Variable;
  value: tf.Tensor;
}

export interface ForwardContext {
  /** Training mode: batch statistics, dropout on. Inference mode is the default. */
  training: boolean;
  /** Source of dropout seeds; required in training mode. */
  rng?: Rng;
  /** Collected in training mode; the trainer assigns them after the optimizer step. */
  bufferUpdates?: BufferUpdate[];
}

/** What a layer's backward step returns. */
export interface LayerGradients {
  /** dL/d(input); null when it was not asked for. */
  dx: tf.Tensor2D | null;
  /** dL/d(param) for each of the layer's `params`, in the same order. */
  params: tf.Tensor[];
}

/**
 * One forward pass of a layer with its backward step, in closed form on fast kernels (see
 * matrix.ts) rather than through tf's per-op gradients.
 */
export interface LayerPass {
  output: tf.Tensor2D;
  /**
   * The tensors `backward` reads, handed back to it as `saved`. The backward step must read
   * tensors only from there: under tf.grads the forward pass's other tensors are disposed before
   * the backward step runs (tf keeps copies of the saved ones).
   */
  saved: tf.Tensor[];
  backward(dy: tf.Tensor2D, saved: tf.Tensor[], inputGradient: boolean): LayerGradients;
}

export interface Layer {
  readonly name: string;
  readonly params: Param[];
  readonly buffers: Buffer[];
  /**
   * The layer's output, differentiable with tf's autodiff (tf.grads, tf.variableGrads): its
   * gradient is `forward(...).backward`, through tf.customGrad.
   */
  apply(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D;
  /**
   * The same output with its backward step, for a training loop that chains the steps itself
   * (Network.forwardWithBackward) instead of recording every op on tf's tape.
   */
  forward(x: tf.Tensor2D, ctx: ForwardContext): LayerPass;
  /** The layer's inference-mode computation as plain arrays (dropout returns nothing). */
  freeze(): FrozenOp[];
}
