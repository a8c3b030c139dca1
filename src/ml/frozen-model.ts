import * as tf from '@tensorflow/tfjs';
import type { TfStep } from './ops/op-definition';
import { opDefinition, type FrozenOp } from './ops/op-table';

export type { FrozenOp, OpKind } from './ops/op-table';

/**
 * The frozen inference form of a trained network: plain arrays and a list of operations, with
 * dropout removed, batch norm's running statistics folded into a neighbouring kernel and weight
 * norm's w = g·v/‖v‖ computed once. It is what the service stores, serves and exports; it has no
 * training mode at all. What each op computes, on every path, is in its module under ops/ (the
 * op table, ops/op-table.ts).
 */
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

/** Runs the frozen model on an n × inputSize row-major matrix with tf; returns n × outputSize. */
export function runFrozen(model: FrozenModel, x: Float32Array, rows: number): Float32Array {
  const steps = uploadFrozen(model);
  try {
    return runTfSteps(model, steps, x, rows);
  } finally {
    disposeTfSteps(steps);
  }
}

/**
 * Every op's tf kernel with its weights uploaded, in order. Outside a tf.tidy the weights stay
 * (resident) until disposeTfSteps.
 */
export function uploadFrozen(model: FrozenModel): TfStep[] {
  return model.ops.map((op) => opDefinition(op).tf(op));
}

export function disposeTfSteps(steps: TfStep[]): void {
  tf.dispose(steps.flatMap((step) => step.tensors));
}

/** Runs uploaded steps (uploadFrozen) on rows × inputSize inputs, then the model's output function. */
export function runTfSteps(model: FrozenModel, steps: TfStep[], x: Float32Array, rows: number): Float32Array {
  // The tensor, not its values, leaves tidy: tidy walks a returned typed array element by element.
  const output = tf.tidy(() => {
    let h: tf.Tensor2D = tf.tensor2d(x, [rows, model.inputSize]);
    for (const step of steps) h = step.run(h);
    return model.output === 'softmax' ? tf.softmax(h) : h;
  });
  try {
    return output.dataSync() as Float32Array;
  } finally {
    output.dispose();
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
    // Unchecked, as the stored JSON is: opDefinition refuses an op kind it does not know.
    return op as unknown as FrozenOp;
  });
  return { inputSize: json.inputSize, outputSize: json.outputSize, output: json.output, ops };
}
