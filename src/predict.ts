import {
  decodeClass,
  decodeRegression,
  encodeFeatures,
  rowsToTable,
  vectorsToTable,
} from './data/preprocessing';
import { runFrozen } from './ml/frozen-model';
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
 * terms: nothing in the frozen form mixes rows.
 */
export function predict(model: StoredModel, input: PredictInput, maxRows: number): Prediction {
  const prep = model.meta.preprocessing;
  const table =
    input.rows !== undefined
      ? rowsToTable(prep, input.rows, maxRows)
      : vectorsToTable(prep, input.inputs, maxRows);
  const n = table.rowCount;
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const output = runFrozen(model.frozen, encodeFeatures(prep, table, all), n);
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
