import {
  decodeClass,
  decodeRegression,
  encodeFeatures,
  rowsToTable,
  vectorsToTable,
  type Preprocessing,
} from './data/preprocessing';
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
  const prep = model.meta.preprocessing;
  const encoder = 'encoder' in model ? model.encoder : new InputEncoder(prep);
  const { x, rows: n } = encoder.encode(input, maxRows) ?? encodeThroughTable(prep, input, maxRows);
  const output = await infer(model, x, n);
  const width = model.frozen.outputSize;

  if (prep.target.task === 'regression') {
    return { predictions: Array.from(output, (v) => decodeRegression(prep, v)) };
  }
  const predictions: (number | string)[] = [];
  const probabilities: number[][] = [];
  for (let r = 0; r < n; r++) {
    const row = Array.from(output.subarray(r * width, (r + 1) * width));
    let best = 0;
    for (let c = 1; c < width; c++) if (row[c] > row[best]) best = c;
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
