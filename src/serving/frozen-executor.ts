import * as tf from '@tensorflow/tfjs';
import { activate } from '../ml/activations';
import { runFrozen, type FrozenModel, type FrozenOp } from '../ml/frozen-model';

export interface FrozenExecutorOptions {
  /**
   * Runs of at least this many multiply-adds (rows × the model's multiply-adds per row) go to
   * TensorFlow.js, smaller ones to plain JavaScript. Default DEFAULT_TF_MIN_WORK.
   */
  tfMinWork?: number;
}

/**
 * 250,000 multiply-adds: runs of 3 rows or more of the reference network (64 → 256 → 256 → 10,
 * 84,480 per row) go to tf, and of 46 or more of a 20 → 64 → 64 → 2 network. Measured on the
 * wasm backend (2-core AMD EPYC): plain JavaScript takes about 34 µs per row of the reference
 * network (0.4 ns per multiply-add) with nothing up front; a tf run with resident weights about
 * 80 µs for one row, 90 µs for 8 and 360 µs for 64 — its fixed cost per call dominates small runs.
 */
export const DEFAULT_TF_MIN_WORK = 250_000;

/**
 * Scratch buffers up to this many floats (64 KiB each) are kept between runs; a JavaScript run
 * that needs more allocates its own, so a model's resident memory stays bounded.
 */
const SCRATCH_KEEP_FLOATS = 16_384;

/** One step over a row-major batch: reads `rows × its input width` from `x`, writes `rows × outWidth`. */
interface Step {
  outWidth: number;
  /** In-place steps read and write the same buffer. */
  inPlace: boolean;
  run(x: Float32Array, out: Float32Array, rows: number): void;
}

/** An op's weights as tensors, uploaded once. */
type ResidentOp =
  | { op: 'dense'; kernel: tf.Tensor2D; bias: tf.Tensor1D }
  | { op: 'cosine'; kernel: tf.Tensor2D; epsilon: number }
  | { op: 'affine'; scale: tf.Tensor1D; shift: tf.Tensor1D }
  | { op: 'layerNorm'; gain: tf.Tensor1D; bias: tf.Tensor1D; epsilon: number }
  | { op: 'activation'; fn: Extract<FrozenOp, { op: 'activation' }>['fn'] };

/**
 * Executes a frozen model, choosing per run between two implementations of the same ops:
 * - plain JavaScript over Float32Arrays, for small runs: nothing to set up, so one row of a
 *   small network costs microseconds;
 * - TensorFlow.js with the weights uploaded once and kept (not re-created per call, as
 *   `runFrozen` does), for larger runs, where its matMul kernels win.
 * Both compute each row independently of the others, so the choice never changes a row's result
 * beyond float32 rounding (test/serving/frozen-executor.test.ts holds both to 1e-5 of
 * `runFrozen`). A model with an op this file does not know (one added to FrozenOp later) runs
 * on `runFrozen`, which knows every op.
 */
export class FrozenExecutor {
  readonly model: FrozenModel;
  readonly tfMinWork: number;
  /** Multiply-adds per row in the dense and cosine ops. */
  readonly workPerRow: number;
  /** Null when an op has no implementation here. */
  private readonly steps: Step[] | null;
  private readonly maxWidth: number;
  /** Scratch for the JavaScript path, grown on demand and reused: runs are synchronous. */
  private scratch: [Float32Array, Float32Array] = [new Float32Array(0), new Float32Array(0)];
  private resident: ResidentOp[] | null = null;
  private disposed = false;

  constructor(model: FrozenModel, options: FrozenExecutorOptions = {}) {
    this.model = model;
    this.tfMinWork = options.tfMinWork ?? DEFAULT_TF_MIN_WORK;
    if (!(this.tfMinWork >= 0)) throw new Error(`Expected tfMinWork >= 0, received ${options.tfMinWork}`);
    this.steps = compile(model);
    this.maxWidth = Math.max(model.inputSize, ...model.ops.map((op) => ('units' in op ? op.units : 0)));
    this.workPerRow = model.ops.reduce((sum, op) => sum + ('units' in op ? op.inputSize * op.units : 0), 0);
  }

  /** Whether every op of the model has an implementation here. */
  get supported(): boolean {
    return this.steps !== null;
  }

  /** The most rows a run sends to the JavaScript path (0 when the model has an unknown op). */
  get maxJsRows(): number {
    if (this.steps === null) return 0;
    return this.workPerRow === 0 ? Infinity : Math.max(0, Math.ceil(this.tfMinWork / this.workPerRow) - 1);
  }

  /** Runs `rows` rows of `x` (row-major, rows × inputSize); returns rows × outputSize. */
  run(x: Float32Array, rows: number): Float32Array {
    if (this.steps !== null && rows * this.workPerRow < this.tfMinWork) return this.runJs(x, rows);
    return this.runTf(x, rows);
  }

  /** The JavaScript path regardless of size (throws for a model with an unknown op). */
  runJs(x: Float32Array, rows: number): Float32Array {
    if (this.steps === null) throw new Error('this model has an op without a JavaScript implementation');
    this.checkInput(x, rows);
    const need = rows * this.maxWidth;
    let buffers = this.scratch;
    if (buffers[0].length < need) {
      buffers = [new Float32Array(need), new Float32Array(need)];
      if (need <= SCRATCH_KEEP_FLOATS) this.scratch = buffers;
    }
    let [current, spare] = buffers;
    current.set(x);
    for (const step of this.steps) {
      if (step.inPlace) {
        step.run(current, current, rows);
      } else {
        step.run(current, spare, rows);
        [current, spare] = [spare, current];
      }
    }
    if (this.model.output === 'softmax') softmaxRows(current, rows, this.model.outputSize);
    return current.slice(0, rows * this.model.outputSize);
  }

  /** The TensorFlow.js path regardless of size, with resident weights while not disposed. */
  runTf(x: Float32Array, rows: number): Float32Array {
    this.checkInput(x, rows);
    if (this.steps === null || this.disposed) return runFrozen(this.model, x, rows);
    this.resident ??= upload(this.model.ops);
    const ops = this.resident;
    // The tensor, not its values, leaves tidy: tidy walks a returned typed array element by element.
    const output = tf.tidy(() => {
      let h: tf.Tensor2D = tf.tensor2d(x, [rows, this.model.inputSize]);
      for (const op of ops) h = applyResident(h, op);
      return this.model.output === 'softmax' ? tf.softmax(h) : h;
    });
    try {
      return output.dataSync() as Float32Array;
    } finally {
      output.dispose();
    }
  }

  /**
   * The most bytes this executor holds: the frozen weights, their resident copy in tf's memory
   * (once a run has gone to tf) and the kept scratch buffers.
   */
  get maxBytes(): number {
    const weights = frozenBytes(this.model);
    const maxScratch = this.steps === null ? 0 : Math.min(SCRATCH_KEEP_FLOATS, this.maxJsRows * this.maxWidth);
    return weights + (this.steps === null ? 0 : weights) + 2 * 4 * maxScratch;
  }

  /** Frees the resident tensors; later runs still work (tf runs re-create their weights per call). */
  dispose(): void {
    this.disposed = true;
    if (this.resident)
      tf.dispose(this.resident.flatMap((op) => Object.values(op).filter((v) => v instanceof tf.Tensor)));
    this.resident = null;
  }

  private checkInput(x: Float32Array, rows: number): void {
    if (x.length !== rows * this.model.inputSize) {
      throw new Error(`expected ${rows} × ${this.model.inputSize} inputs, received ${x.length} values`);
    }
  }
}

function upload(ops: FrozenOp[]): ResidentOp[] {
  return ops.map((op): ResidentOp => {
    switch (op.op) {
      case 'dense':
        return { op: 'dense', kernel: tf.tensor2d(op.kernel, [op.inputSize, op.units]), bias: tf.tensor1d(op.bias) };
      case 'cosine':
        return { op: 'cosine', kernel: tf.tensor2d(op.kernel, [op.inputSize, op.units]), epsilon: op.epsilon };
      case 'affine':
        return { op: 'affine', scale: tf.tensor1d(op.scale), shift: tf.tensor1d(op.shift) };
      case 'layerNorm':
        return { op: 'layerNorm', gain: tf.tensor1d(op.gain), bias: tf.tensor1d(op.bias), epsilon: op.epsilon };
      case 'activation':
        return { op: 'activation', fn: op.fn };
      default:
        throw new Error(`no resident form for op ${(op as { op: string }).op}`);
    }
  });
}

/** The same computation as frozen-model.ts's applyOp, on tensors uploaded once. */
function applyResident(h: tf.Tensor2D, op: ResidentOp): tf.Tensor2D {
  switch (op.op) {
    case 'dense':
      return tf.add(tf.matMul(h, op.kernel), op.bias);
    case 'cosine': {
      const xHat = tf.mul(h, tf.rsqrt(tf.maximum(tf.sum(tf.square(h), 1, true), op.epsilon)));
      return tf.matMul(xHat, op.kernel);
    }
    case 'affine':
      return tf.add(tf.mul(h, op.scale), op.shift);
    case 'layerNorm': {
      const { mean, variance } = tf.moments(h, 1, true);
      const normalized = tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, op.epsilon)));
      return tf.add(tf.mul(normalized, op.gain), op.bias);
    }
    case 'activation':
      return activate(h, op.fn);
  }
}

/** Bytes of the typed arrays in a frozen model. */
export function frozenBytes(model: FrozenModel): number {
  let bytes = 0;
  for (const op of model.ops) {
    for (const value of Object.values(op)) if (ArrayBuffer.isView(value)) bytes += value.byteLength;
  }
  return bytes;
}

function compile(model: FrozenModel): Step[] | null {
  const steps: Step[] = [];
  let width = model.inputSize;
  for (const op of model.ops) {
    const step = compileOp(op, width);
    if (!step) return null;
    steps.push(step);
    width = step.outWidth;
  }
  if (width !== model.outputSize) {
    throw new Error(`the frozen ops end with width ${width}, but outputSize is ${model.outputSize}`);
  }
  return steps;
}

function compileOp(op: FrozenOp, width: number): Step | null {
  switch (op.op) {
    case 'dense':
      checkWidth(op.op, op.inputSize, width);
      return {
        outWidth: op.units,
        inPlace: false,
        run: (x, out, rows) => dense(x, out, rows, op.inputSize, op.units, op.kernel, op.bias),
      };
    case 'cosine':
      checkWidth(op.op, op.inputSize, width);
      return {
        outWidth: op.units,
        inPlace: false,
        run: (x, out, rows) => {
          normalizeRows(x, rows, op.inputSize, op.epsilon);
          dense(x, out, rows, op.inputSize, op.units, op.kernel, null);
        },
      };
    case 'affine':
      return inPlace(width, (x, rows) => affine(x, rows, width, op.scale, op.shift));
    case 'layerNorm':
      return inPlace(width, (x, rows) => layerNorm(x, rows, width, op.gain, op.bias, op.epsilon));
    case 'activation': {
      const fn = ACTIVATIONS[op.fn];
      if (!fn) return null;
      return inPlace(width, (x, rows) => fn(x, rows * width));
    }
    default:
      return null;
  }
}

function checkWidth(op: string, expected: number, actual: number): void {
  if (expected !== actual) throw new Error(`${op} expects ${expected} inputs, but the previous op gives ${actual}`);
}

function inPlace(width: number, run: (x: Float32Array, rows: number) => void): Step {
  return { outWidth: width, inPlace: true, run: (x, _out, rows) => run(x, rows) };
}

/**
 * out = x·W + b, W row-major [inputs, units]. Row by row: the row's non-zero inputs are listed
 * first (about half of them are exactly zero after a ReLU, and skipping a zero changes nothing for
 * finite weights), then added in four at a time as x_i·W[i, :], so each pass over the output row
 * does four multiply-adds per load and store. Both arrays are read in order.
 */
function dense(
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

function affine(x: Float32Array, rows: number, width: number, scale: Float32Array, shift: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    for (let j = 0; j < width; j++) x[o + j] = x[o + j] * scale[j] + shift[j];
  }
}

/** As tf.moments(x, 1): the row's mean and biased variance; then (x − μ)/sqrt(σ² + ε)·g + b. */
function layerNorm(
  x: Float32Array,
  rows: number,
  width: number,
  gain: Float32Array,
  bias: Float32Array,
  epsilon: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let sum = 0;
    for (let j = 0; j < width; j++) sum += x[o + j];
    const mean = sum / width;
    let squares = 0;
    for (let j = 0; j < width; j++) squares += (x[o + j] - mean) ** 2;
    const inv = 1 / Math.sqrt(squares / width + epsilon);
    for (let j = 0; j < width; j++) x[o + j] = (x[o + j] - mean) * inv * gain[j] + bias[j];
  }
}

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

/** p_k = exp(z_k − max z) / Σ_j exp(z_j − max z), per row, in place. */
function softmaxRows(x: Float32Array, rows: number, width: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let max = -Infinity;
    for (let j = 0; j < width; j++) if (x[o + j] > max) max = x[o + j];
    let sum = 0;
    for (let j = 0; j < width; j++) {
      const e = Math.exp(x[o + j] - max);
      x[o + j] = e;
      sum += e;
    }
    for (let j = 0; j < width; j++) x[o + j] /= sum;
  }
}

/** tf.selu's constants. */
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

type ActivationFn = (x: Float32Array, n: number) => void;

/** The activations of src/ml/layers/activation.ts, element-wise in place. */
const ACTIVATIONS: Record<string, ActivationFn | undefined> = {
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
