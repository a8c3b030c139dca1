import {
  decodeClass,
  decodeRegression,
  encodeFeatures,
  type Preprocessing,
} from './data/preprocessing';
import { rowsToTable, vectorsToTable } from './data/prediction-input';
import { FrozenExecutor } from './serving/frozen-executor';
import { InputEncoder } from './serving/input-encoder';
import type { ServedModel } from './serving/served-model';
import type { StoredModel } from './store/model-store';

export interface PredictInput {
  rows?: unknown[];
  inputs?: unknown[];
}

export interface Prediction {
  predictions: (number | string)[];
  probabilities?: number[][];
  classes?: (number | string)[];
}

/**
 * Applies the model's stored preprocessing, runs the frozen network (running statistics, no
 * dropout) and maps outputs back to classes or target units. Each row is computed on its own
 * terms: nothing in the frozen form mixes rows. A served model (from the model cache) runs on its
 * own executor and batcher; a model straight from the store gets an executor for this call.
 */
export async function predict(model: StoredModel | ServedModel, input: PredictInput, maxRows: number): Promise<Prediction> {
  const { x, rows } = encodeInput(model, input, maxRows);
  return decodeOutput(model, await infer(model, x, rows), rows);
}

/** The input as the network's rows × inputSize matrix; throws a 400 (AppError) for bad input. */
function encodeInput(model: StoredModel | ServedModel, input: PredictInput, maxRows: number): { x: Float32Array; rows: number } {
  const prep = model.meta.preprocessing;
  const encoder = 'encoder' in model ? model.encoder : new InputEncoder(prep);
  return encoder.encode(input, maxRows) ?? encodeThroughTable(prep, input, maxRows);
}

/** The network's outputs (rows × outputSize) as predictions in the target's terms. */
function decodeOutput(model: StoredModel | ServedModel, output: Float32Array, n: number): Prediction {
  const prep = model.meta.preprocessing;
  const width = model.frozen.outputSize;
  if (prep.target.task === 'regression') {
    const predictions: number[] = [];
    for (let i = 0; i < output.length; i++) predictions.push(decodeRegression(prep, output[i]));
    return { predictions };
  }
  const predictions: (number | string)[] = [];
  const probabilities: number[][] = [];
  for (let r = 0; r < n; r++) {
    // A plain loop (Array.from over a subarray goes through the iterator, 20× slower), and push
    // (packed arrays, which JSON.stringify writes faster than holey ones).
    const row: number[] = [];
    let best = 0;
    for (let c = 0, at = r * width; c < width; c++) {
      row.push(output[at + c]);
      if (row[c] > row[best]) best = c;
    }
    predictions.push(decodeClass(prep, best));
    probabilities.push(row);
  }
  return { predictions, probabilities, classes: prep.target.classes };
}

async function infer(model: StoredModel | ServedModel, x: Float32Array, rows: number): Promise<Float32Array> {
  if ('infer' in model) return model.infer(x, rows);
  const executor = new FrozenExecutor(model.frozen);
  try {
    return executor.run(x, rows);
  } finally {
    executor.dispose();
  }
}

/** The general path: validates the input (with messages that name the problem) and encodes it. */
function encodeThroughTable(prep: Preprocessing, input: PredictInput, maxRows: number): { x: Float32Array; rows: number } {
  const table =
    input.rows !== undefined
      ? rowsToTable(prep, input.rows, maxRows)
      : vectorsToTable(prep, input.inputs, maxRows);
  const all = Int32Array.from({ length: table.rowCount }, (_, i) => i);
  return { x: encodeFeatures(prep, table, all), rows: table.rowCount };
}
