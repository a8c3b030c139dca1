import * as tf from '@tensorflow/tfjs';
import type { Activation } from '../schemas/training-request.schema';
import { activate } from './activations';

/**
 * The frozen inference form of a trained network: plain arrays and a list of operations, with
 * dropout removed, batch norm's running statistics folded into a neighbouring kernel and weight
 * norm's w = g·v/‖v‖ computed once. It is what the service stores, serves and exports; it has no
 * training mode at all.
 *
 * `cosine`: y_j = Σ_i x̂_i·kernel_ij with x̂ = x / sqrt(max(‖x‖², epsilon)); the kernel's
 * columns already hold s·w_j/‖w_j‖.
 */
export type FrozenOp =
  | { op: 'dense'; inputSize: number; units: number; kernel: Float32Array; bias: Float32Array }
  | { op: 'affine'; scale: Float32Array; shift: Float32Array }
  | { op: 'layerNorm'; gain: Float32Array; bias: Float32Array; epsilon: number }
  | { op: 'cosine'; inputSize: number; units: number; kernel: Float32Array; epsilon: number }
  | { op: 'activation'; fn: Exclude<Activation, 'linear'> };

export interface FrozenModel {
  inputSize: number;
  outputSize: number;
  /** softmax for classification (probabilities), identity for regression. */
  output: 'softmax' | 'identity';
  ops: FrozenOp[];
}

/**
 * Folds affine ops (inference-mode batch norm) into a neighbouring dense op:
 * - after a dense op, into it: (x·W + b)·s + t = x·(W·diag(s)) + (b·s + t);
 * - otherwise (batch norm after the activation), into the dense op that follows:
 *   (x·s + t)·W + b = x·(diag(s)·W) + (t·W + b).
 * An affine op followed by anything else (an activation, layer norm, cosine — none of them
 * commutes with a per-feature affine map) or by nothing stays.
 */
export function foldAffine(ops: FrozenOp[]): FrozenOp[] {
  const out: FrozenOp[] = [];
  for (const op of ops) {
    const prev = out[out.length - 1];
    if (op.op === 'affine' && prev?.op === 'dense') {
      const kernel = new Float32Array(prev.kernel.length);
      const bias = new Float32Array(prev.units);
      for (let i = 0; i < prev.inputSize; i++) {
        for (let j = 0; j < prev.units; j++) {
          kernel[i * prev.units + j] = prev.kernel[i * prev.units + j] * op.scale[j];
        }
      }
      for (let j = 0; j < prev.units; j++) bias[j] = prev.bias[j] * op.scale[j] + op.shift[j];
      out[out.length - 1] = { ...prev, kernel, bias };
    } else if (op.op === 'dense' && prev?.op === 'affine') {
      const kernel = new Float32Array(op.kernel.length);
      const bias = new Float32Array(op.units);
      for (let j = 0; j < op.units; j++) {
        let shifted = op.bias[j]; // float64 accumulation of t·W + b
        for (let i = 0; i < op.inputSize; i++) {
          kernel[i * op.units + j] = prev.scale[i] * op.kernel[i * op.units + j];
          shifted += prev.shift[i] * op.kernel[i * op.units + j];
        }
        bias[j] = shifted;
      }
      out[out.length - 1] = { ...op, kernel, bias };
    } else {
      out.push(op);
    }
  }
  return out;
}

/** Runs the frozen model on an n × inputSize row-major matrix; returns n × outputSize. */
export function runFrozen(model: FrozenModel, x: Float32Array, rows: number): Float32Array {
  return tf.tidy(() => {
    let h: tf.Tensor2D = tf.tensor2d(x, [rows, model.inputSize]);
    for (const op of model.ops) h = applyOp(h, op);
    if (model.output === 'softmax') h = tf.softmax(h);
    return h.dataSync() as Float32Array;
  });
}

function applyOp(h: tf.Tensor2D, op: FrozenOp): tf.Tensor2D {
  switch (op.op) {
    case 'dense':
      return tf.add(tf.matMul(h, tf.tensor2d(op.kernel, [op.inputSize, op.units])), tf.tensor1d(op.bias));
    case 'affine':
      return tf.add(tf.mul(h, tf.tensor1d(op.scale)), tf.tensor1d(op.shift));
    case 'layerNorm': {
      const { mean, variance } = tf.moments(h, 1, true);
      const normalized = tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, op.epsilon)));
      return tf.add(tf.mul(normalized, tf.tensor1d(op.gain)), tf.tensor1d(op.bias));
    }
    case 'cosine': {
      const xHat = tf.mul(h, tf.rsqrt(tf.maximum(tf.sum(tf.square(h), 1, true), op.epsilon)));
      return tf.matMul(xHat, tf.tensor2d(op.kernel, [op.inputSize, op.units]));
    }
    case 'activation':
      return activate(h, op.fn);
  }
}

// --- storage form: JSON description + one binary blob of float32 arrays ---------------------

type ArrayRef = { offset: number; length: number };
type StoredOp = { [key: string]: number | string | ArrayRef };
export interface StoredFrozenModel {
  inputSize: number;
  outputSize: number;
  output: FrozenModel['output'];
  ops: StoredOp[];
}

/** Splits a frozen model into JSON (with offsets) and a little-endian float32 buffer. */
export function encodeFrozen(model: FrozenModel): { json: StoredFrozenModel; weights: Buffer } {
  const chunks: Float32Array[] = [];
  let offset = 0;
  const ops = model.ops.map((op) => {
    const stored: StoredOp = {};
    for (const [key, value] of Object.entries(op)) {
      if (value instanceof Float32Array) {
        stored[key] = { offset, length: value.length };
        chunks.push(value);
        offset += value.length;
      } else {
        stored[key] = value as number | string;
      }
    }
    return stored;
  });
  const all = new Float32Array(offset);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return {
    json: { inputSize: model.inputSize, outputSize: model.outputSize, output: model.output, ops },
    weights: Buffer.from(all.buffer, all.byteOffset, all.byteLength),
  };
}

export function decodeFrozen(json: StoredFrozenModel, weights: Buffer): FrozenModel {
  // Copy into an aligned buffer: a Buffer from Redis may sit at any byte offset.
  const all = new Float32Array(weights.byteLength / 4);
  new Uint8Array(all.buffer).set(weights);
  const ops = json.ops.map((stored) => {
    const op: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(stored)) {
      op[key] = typeof value === 'object' ? all.subarray(value.offset, value.offset + value.length) : value;
    }
    return op as FrozenOp;
  });
  return { inputSize: json.inputSize, outputSize: json.outputSize, output: json.output, ops };
}
