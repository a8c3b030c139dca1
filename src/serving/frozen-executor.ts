import {
  disposeTfSteps,
  runFrozen,
  runTfSteps,
  uploadFrozen,
  type FrozenModel,
  type FrozenOp,
} from '../ml/frozen-model';
import type { JsStep, TfStep } from '../ml/ops/op-definition';
import { opDefinition } from '../ml/ops/op-table';

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

/**
 * Executes a frozen model, choosing per run between the two kernels every op has in the op
 * table (ml/ops/op-table.ts):
 * - plain JavaScript over Float32Arrays, for small runs: nothing to set up, so one row of a
 *   small network costs microseconds;
 * - TensorFlow.js with the weights uploaded once and kept (not re-created per call, as
 *   `runFrozen` does), for larger runs, where its matMul kernels win.
 * Both compute each row independently of the others, so the choice never changes a row's result
 * beyond float32 rounding (test/ml/op-table.test.ts holds every op on both to 1e-5 of
 * `runFrozen`, test/serving/frozen-executor.test.ts whole trained networks).
 */
export class FrozenExecutor {
  readonly model: FrozenModel;
  readonly tfMinWork: number;
  /** Multiply-adds per row in the dense and cosine ops. */
  readonly workPerRow: number;
  private readonly steps: JsStep[];
  private readonly maxWidth: number;
  /** Scratch for the JavaScript path, grown on demand and reused: runs are synchronous. */
  private scratch: [Float32Array, Float32Array] = [new Float32Array(0), new Float32Array(0)];
  private resident: TfStep[] | null = null;
  private disposed = false;

  constructor(model: FrozenModel, options: FrozenExecutorOptions = {}) {
    this.model = model;
    this.tfMinWork = options.tfMinWork ?? DEFAULT_TF_MIN_WORK;
    if (!(this.tfMinWork >= 0)) throw new Error(`Expected tfMinWork >= 0, received ${options.tfMinWork}`);
    const compiled = compile(model);
    this.steps = compiled.steps;
    this.maxWidth = compiled.maxWidth;
    this.workPerRow = model.ops.reduce((sum, op) => sum + opDefinition(op).multiplyAdds(op), 0);
  }

  /** The most rows a run sends to the JavaScript path. */
  get maxJsRows(): number {
    return this.workPerRow === 0 ? Infinity : Math.max(0, Math.ceil(this.tfMinWork / this.workPerRow) - 1);
  }

  /** Runs `rows` rows of `x` (row-major, rows × inputSize); returns rows × outputSize. */
  run(x: Float32Array, rows: number): Float32Array {
    if (rows * this.workPerRow < this.tfMinWork) return this.runJs(x, rows);
    return this.runTf(x, rows);
  }

  /**
   * As `run(x, rows)`, with the same kernel for every row (the one `run` picks for `rows` rows),
   * `blockRows` rows at a time and `between()` awaited between blocks: the output is exactly
   * `run`'s, since both kernels compute each row on its own (test/serving/sliced-predict.test.ts).
   */
  async runInBlocks(
    x: Float32Array,
    rows: number,
    blockRows: number,
    between: () => Promise<void>,
  ): Promise<Float32Array> {
    this.checkInput(x, rows);
    const kernel = rows * this.workPerRow < this.tfMinWork ? 'runJs' : 'runTf';
    const { inputSize, outputSize } = this.model;
    const output = new Float32Array(rows * outputSize);
    for (let from = 0; from < rows; from += blockRows) {
      if (from > 0) await between();
      const to = Math.min(rows, from + blockRows);
      output.set(this[kernel](x.subarray(from * inputSize, to * inputSize), to - from), from * outputSize);
    }
    return output;
  }

  /** The JavaScript path regardless of size. */
  runJs(x: Float32Array, rows: number): Float32Array {
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
    if (this.disposed) return runFrozen(this.model, x, rows);
    this.resident ??= uploadFrozen(this.model);
    return runTfSteps(this.model, this.resident, x, rows);
  }

  /**
   * The most bytes this executor holds: the frozen weights, their resident copy in tf's memory
   * (once a run has gone to tf) and the kept scratch buffers.
   */
  get maxBytes(): number {
    const weights = frozenBytes(this.model);
    const maxScratch = Math.min(SCRATCH_KEEP_FLOATS, this.maxJsRows * this.maxWidth);
    return 2 * weights + 2 * 4 * maxScratch;
  }

  /** Frees the resident tensors; later runs still work (tf runs re-create their weights per call). */
  dispose(): void {
    this.disposed = true;
    if (this.resident) disposeTfSteps(this.resident);
    this.resident = null;
  }

  private checkInput(x: Float32Array, rows: number): void {
    if (x.length !== rows * this.model.inputSize) {
      throw new Error(`expected ${rows} × ${this.model.inputSize} inputs, received ${x.length} values`);
    }
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

/** Every op's JavaScript kernel, its widths checked in order; and the widest buffer a row needs. */
function compile(model: FrozenModel): { steps: JsStep[]; maxWidth: number } {
  const steps: JsStep[] = [];
  let width = model.inputSize;
  let maxWidth = width;
  for (const op of model.ops) {
    const definition = opDefinition<FrozenOp>(op);
    const outWidth = definition.outWidth(op, width);
    steps.push(definition.js(op, width));
    width = outWidth;
    maxWidth = Math.max(maxWidth, width);
  }
  if (width !== model.outputSize) {
    throw new Error(`the frozen ops end with width ${width}, but outputSize is ${model.outputSize}`);
  }
  return { steps, maxWidth };
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
