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

export interface Layer {
  readonly name: string;
  readonly params: Param[];
  readonly buffers: Buffer[];
  apply(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D;
  /** The layer's inference-mode computation as plain arrays (dropout returns nothing). */
  freeze(): FrozenOp[];
}
