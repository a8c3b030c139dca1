import type * as tf from '@tensorflow/tfjs';

/**
 * Everything one kind of frozen op needs on every inference path, in one place: its shape, its
 * plain-JavaScript kernel, its TensorFlow.js kernel and its TensorFlow.js layer for the export
 * (or the reason it has none). `OP_TABLE` (op-table.ts) holds one per op kind, so an op kind
 * added to `FrozenOp` does not compile until every path can run it.
 */
export interface OpDefinition<Op extends { op: string }> {
  /** The op's output width for an input `width` wide; throws when the op cannot take that width. */
  outWidth(op: Op, width: number): number;
  /** Multiply-adds per row: the executor's measure of how much work a run is. */
  multiplyAdds(op: Op): number;
  /**
   * True for the op that carries a layer's weight matrix (dense, cosine): counting them tells
   * which of the network's layers an op belongs to, so a message can name `model.hidden[i]`.
   */
  opensLayer: boolean;
  /** The plain-JavaScript kernel for inputs `width` wide (the width `outWidth` accepted). */
  js(op: Op, width: number): JsStep;
  /**
   * The TensorFlow.js kernel: uploads the op's weights as tensors and returns them with the
   * computation that reads them. Inside a tf.tidy the tensors go with it; outside one the caller
   * keeps them (resident weights) and disposes `tensors` when done.
   */
  tf(op: Op): TfStep;
  /** The op as a standard TensorFlow.js layer, or why there is none. */
  exportAs: LayerExport<Op>;
}

/**
 * One op over a row-major batch: reads `rows × its input width` from `x`, writes `rows × its
 * output width` to `out`. It may overwrite `x` (the executor's own scratch buffer).
 */
export interface JsStep {
  /** In-place steps read and write the same buffer (`out` is `x`). */
  inPlace: boolean;
  run(x: Float32Array, out: Float32Array, rows: number): void;
}

export interface TfStep {
  /** The op's weights, as uploaded. */
  tensors: tf.Tensor[];
  run(h: tf.Tensor2D): tf.Tensor2D;
}

/** Names a layer of the exported model: the kind, numbered in order ("dense_2"). */
export type LayerNamer = (kind: string) => string;

export type LayerExport<Op> =
  | {
      exportable: true;
      /**
       * A layer computing exactly what the op does, and its weights in `layer.setWeights` order
       * (set them once the layer is built; the caller disposes them).
       */
      layer(op: Op, name: LayerNamer): { layer: tf.layers.Layer; weights: tf.Tensor[] };
    }
  | {
      exportable: false;
      /** Why, as it follows the place it occurs ("hidden layer 1 (model.hidden[0]) …"). */
      reason: string;
    };

/** Throws unless an op that reads `expected` inputs gets `actual`. */
export function checkWidth(op: string, expected: number, actual: number): void {
  if (expected !== actual) throw new Error(`${op} expects ${expected} inputs, but the previous op gives ${actual}`);
}

/** A step that rewrites its input in place (width unchanged). */
export function inPlace(run: (x: Float32Array, rows: number) => void): JsStep {
  return { inPlace: true, run: (x, _out, rows) => run(x, rows) };
}
