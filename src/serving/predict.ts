import { invalid } from '../errors';
import { decodeClass, decodeRegression, encodeFeatures, type Preprocessing } from '../data/preprocessing';
import { rowsToTable, vectorsToTable } from '../data/prediction-input';
import type { Table } from '../data/table';
import { applyTemperature } from '../evaluation/calibration';
import { servingAdjustments } from '../training/evaluate-model';
import { measureDrift, type DriftReport } from './drift';
import type { PredictWarningKind, PredictWarnings } from './predict-warnings';
import type { ServedModel } from './served-model';
import { forEachBlock, yieldToEventLoop } from '../data/slices';

export interface PredictInput {
  rows?: unknown[];
  inputs?: unknown[];
}

export interface Prediction {
  predictions: (number | string)[];
  probabilities?: number[][];
  classes?: (number | string)[];
  /** Input accepted but probably not meant: unseen categories, keys that are no feature. */
  warnings?: string[];
  /** With `explain: true` in the drift options: the request's drift counts. */
  drift?: DriftReport;
}

export interface DriftOptions {
  /** PREDICT_DRIFT_K. */
  k: number;
  /** Called with every request's drift counts (for /metrics). */
  observe?: (report: DriftReport) => void;
  /** Put the report in the answer (`?explain=drift`). */
  explain?: boolean;
}

/**
 * Applies the model's stored preprocessing, runs the frozen network (running statistics, no
 * dropout) and maps outputs back to classes or target units. Each row is computed on its own
 * terms: nothing in the frozen form mixes rows. The model comes from the model cache and runs on
 * its own executor and batcher.
 */
export async function predict(
  model: ServedModel,
  input: PredictInput,
  maxRows: number,
  /** Called with how many warnings of each kind the request had (for /metrics). */
  onWarnings?: (counts: Record<PredictWarningKind, number>) => void,
  drift?: DriftOptions,
): Promise<Prediction> {
  // A large request is computed a block of rows at a time, with turns of the event loop in
  // between (slices.ts); the same answer, and a small one runs in one piece as before.
  const list = input.rows ?? input.inputs;
  const sliced = Array.isArray(list) && list.length > model.blockRows && list.length <= maxRows;
  const { x, rows, warnings } = sliced
    ? await encodeInBlocks(model, input, maxRows)
    : encodeInput(model, input, maxRows);
  // On the encoded rows, before they go to the network.
  const report =
    drift && measureDrift(model.meta.preprocessing, x, rows, drift.k, warnings?.counts.unseen_category ?? 0);
  if (sliced) await yieldToEventLoop();
  const output = sliced ? await model.inferInBlocks(x, rows) : await model.infer(x, rows);
  checkFinite(model.meta.preprocessing, input, output, rows);
  const prediction = sliced ? await decodeInBlocks(model, output, rows) : decodeOutput(model, output, rows);
  const messages = warnings?.messages();
  if (messages) {
    onWarnings?.(warnings!.counts);
    prediction.warnings = messages;
  }
  if (report) {
    drift.observe?.(report);
    if (drift.explain) prediction.drift = report;
  }
  return prediction;
}

/**
 * Inputs within float32 can still be so far from the training data that the network's output
 * overflows (NaN probabilities); such a row is a 400 naming the feature furthest from its
 * training mean, rather than an answer with nulls where numbers were promised.
 */
function checkFinite(prep: Preprocessing, input: PredictInput, output: Float32Array, rows: number): void {
  for (let i = 0; i < output.length; i++) {
    if (!Number.isFinite(output[i]))
      throw invalid('INVALID_PREDICT_INPUT', nonFiniteMessage(prep, input, Math.floor(i / (output.length / rows))));
  }
}

function nonFiniteMessage(prep: Preprocessing, input: PredictInput, row: number): string {
  let furthest: { name: string; value: number; distance: number } | undefined;
  prep.features.forEach((feature, f) => {
    if (feature.type !== 'numeric') return;
    const source = input.rows?.[row] as Record<string, unknown> | undefined;
    const value = input.rows ? source?.[feature.name] : (input.inputs?.[row] as unknown[] | undefined)?.[f];
    if (typeof value !== 'number') return;
    const distance = Math.abs(value - feature.mean) / feature.std;
    if (!furthest || distance > furthest.distance) furthest = { name: feature.name, value, distance };
  });
  const message = `row ${row}: the model's output is not a finite number`;
  if (!furthest) return `${message} for these inputs`;
  return (
    `${message}; feature "${furthest.name}" (${furthest.value}) is ${furthest.distance.toPrecision(3)} standard deviations ` +
    'from its training mean: values this far from the training data cannot be predicted'
  );
}

/** The input as the network's rows × inputSize matrix; throws a 400 (AppError) for bad input. */
function encodeInput(
  model: ServedModel,
  input: PredictInput,
  maxRows: number,
): { x: Float32Array; rows: number; warnings?: PredictWarnings } {
  const prep = model.meta.preprocessing;
  return model.encoder.encode(input, maxRows) ?? encodeThroughTable(prep, input, maxRows);
}

/**
 * As `encodeInput`, `model.blockRows` rows at a time with a turn of the event loop between
 * blocks. Input the fast encoder refuses goes to the table path whole, as in `encodeInput`, so
 * the 400 (or the table's encoding) is exactly the same.
 */
async function encodeInBlocks(
  model: ServedModel,
  input: PredictInput,
  maxRows: number,
): Promise<{ x: Float32Array; rows: number; warnings?: PredictWarnings }> {
  const encoding = model.encoder.start(input, maxRows);
  if (!encoding) return encodeThroughTable(model.meta.preprocessing, input, maxRows);
  const encoded = await forEachBlock(encoding.rows, model.blockRows, (from, to) =>
    model.encoder.encodeRows(encoding, from, to),
  );
  return encoded ? encoding : encodeThroughTable(model.meta.preprocessing, input, maxRows);
}

/**
 * Rows of a stored dataset (a Table holding the model's feature columns, as DatasetStore reads a
 * chunk) through the same encoding (`encodeFeatures`, what the table path of `predict` uses) and
 * the same network; the outputs decode with `decodeOutput`, so a row predicts here exactly as it
 * does sent to /v1 predict. A row whose output is not finite is a 400 (AppError) naming it, counted
 * from `firstRow`.
 */
export async function inferTable(model: ServedModel, table: Table, firstRow = 0): Promise<Float32Array> {
  const all = Int32Array.from({ length: table.rowCount }, (_, i) => i);
  const output = await model.infer(encodeFeatures(model.meta.preprocessing, table, all), table.rowCount);
  const width = model.frozen.outputSize;
  for (let i = 0; i < output.length; i++) {
    if (!Number.isFinite(output[i])) {
      throw invalid(
        'INVALID_PREDICT_INPUT',
        `row ${firstRow + Math.floor(i / width)}: the model's output is not a finite number for these inputs`,
      );
    }
  }
  return output;
}

/** The network's outputs (rows × outputSize) as predictions in the target's terms. */
export function decodeOutput(model: Pick<ServedModel, 'meta' | 'frozen'>, output: Float32Array, n: number): Prediction {
  const prep = model.meta.preprocessing;
  const width = model.frozen.outputSize;
  if (prep.target.task === 'regression') {
    const predictions: number[] = [];
    for (let i = 0; i < output.length; i++) predictions.push(decodeRegression(prep, output[i]));
    return { predictions };
  }
  const predictions: (number | string)[] = [];
  const probabilities: number[][] = [];
  const { temperature, threshold } = servingAdjustments(model.meta.evaluation);
  if (temperature !== undefined) output = Float32Array.from(applyTemperature(output, width, temperature));
  for (let r = 0; r < n; r++) {
    // A plain loop (Array.from over a subarray goes through the iterator, 20× slower), and push
    // (packed arrays, which JSON.stringify writes faster than holey ones).
    const row: number[] = [];
    let best = 0;
    for (let c = 0, at = r * width; c < width; c++) {
      row.push(output[at + c]);
      if (row[c] > row[best]) best = c;
    }
    // The decision threshold (binary) picks the class; the probabilities are returned as they are.
    if (width === 2 && threshold !== undefined) best = row[1] >= threshold ? 1 : 0;
    predictions.push(decodeClass(prep, best));
    probabilities.push(row);
  }
  return { predictions, probabilities, classes: prep.target.classes };
}

/**
 * As `decodeOutput`, `model.blockRows` rows at a time with a turn of the event loop between
 * blocks: every row is decoded on its own, so the blocks' predictions, concatenated, are exactly
 * the whole's.
 */
async function decodeInBlocks(model: ServedModel, output: Float32Array, rows: number): Promise<Prediction> {
  const width = model.frozen.outputSize;
  let whole: Prediction | undefined;
  await forEachBlock(rows, model.blockRows, (from, to) => {
    const part = decodeOutput(model, output.subarray(from * width, to * width), to - from);
    if (!whole) {
      whole = part;
      return;
    }
    for (const value of part.predictions) whole.predictions.push(value);
    if (part.probabilities) for (const row of part.probabilities) whole.probabilities!.push(row);
  });
  return whole!;
}

/** The general path: validates the input (with messages that name the problem) and encodes it. */
function encodeThroughTable(
  prep: Preprocessing,
  input: PredictInput,
  maxRows: number,
): { x: Float32Array; rows: number } {
  const table =
    input.rows !== undefined ? rowsToTable(prep, input.rows, maxRows) : vectorsToTable(prep, input.inputs, maxRows);
  const all = Int32Array.from({ length: table.rowCount }, (_, i) => i);
  return { x: encodeFeatures(prep, table, all), rows: table.rowCount };
}
