import { invalid } from '../errors';
import type { Preprocessing } from '../data/preprocessing';
import {
  V2_DATATYPES,
  type V2InferRequest,
  type V2InferResponse,
  type V2ModelMetadata,
} from '../schemas/open-inference.schema';
import type { PredictInput, Prediction } from './predict';

/**
 * The Open Inference Protocol (KServe v2 / Triton REST) over the same predict path as /v1: a v2
 * request becomes a PredictInput, `predict` runs it, and its Prediction becomes named output
 * tensors. So a v2 answer and a /v1 answer to the same rows are the same numbers.
 *
 * Inputs: one tensor per feature, named as the feature, shape [N] or [N, 1]: FP32 (or any
 * numeric datatype) for a numeric feature, BYTES (strings) for a categorical one. Or a single
 * tensor of shape [N, F] holding the raw values in feature order (FP32 when every feature is
 * numeric; BYTES, strings, when some are categorical; numeric strings are read as numbers).
 * Data may be flattened (what Triton's and KServe's clients send) or nested.
 *
 * Outputs, classification: `label` (BYTES [N], the class as a string), `class_index` (INT64 [N],
 * its index in the model's classes) and `probabilities` (FP32 [N, C]); regression: `prediction`
 * (FP64 [N]). A request's `outputs` picks some of them by name.
 */

/** The platform the metadata names: the runtime the frozen network runs on. */
export const V2_PLATFORM = 'fitwell_tfjs';

/** The protocol's number types: every datatype but BOOL and BYTES. */
const NUMERIC_TYPES = new Set<string>(V2_DATATYPES.filter((type) => type !== 'BOOL' && type !== 'BYTES'));

type Tensor = V2InferRequest['inputs'][number];
type Output = V2InferResponse['outputs'][number];

export function outputNames(prep: Preprocessing): string[] {
  return prep.target.task === 'classification' ? ['label', 'class_index', 'probabilities'] : ['prediction'];
}

export function modelMetadata(name: string, versions: string[] | undefined, prep: Preprocessing): V2ModelMetadata {
  const outputs: V2ModelMetadata['outputs'] =
    prep.target.task === 'classification'
      ? [
          { name: 'label', datatype: 'BYTES', shape: [-1] },
          { name: 'class_index', datatype: 'INT64', shape: [-1] },
          { name: 'probabilities', datatype: 'FP32', shape: [-1, prep.target.classes.length] },
        ]
      : [{ name: 'prediction', datatype: 'FP64', shape: [-1] }];
  return {
    name,
    ...(versions ? { versions } : {}),
    platform: V2_PLATFORM,
    inputs: prep.features.map((feature) => ({
      name: feature.name,
      datatype: feature.type === 'numeric' ? 'FP32' : 'BYTES',
      shape: [-1, 1],
    })),
    outputs,
  };
}

/** The tensor's elements in row-major order, checked against its shape. */
function elements(tensor: Tensor): unknown[] {
  const flat = tensor.data.flat(Math.max(0, tensor.shape.length - 1));
  const size = tensor.shape.reduce((a, b) => a * b, 1);
  if (flat.length !== size || flat.some(Array.isArray)) {
    throw invalid(
      'INVALID_PREDICT_INPUT',
      `input "${tensor.name}": shape [${tensor.shape.join(', ')}] holds ${size} elements, but data holds ${flat.length}` +
        (flat.some(Array.isArray) ? ' and is nested deeper than the shape' : ''),
    );
  }
  return flat;
}

function checkElements(tensor: Tensor, values: unknown[], kind: 'numeric' | 'categorical'): void {
  if (kind === 'numeric' && !NUMERIC_TYPES.has(tensor.datatype)) {
    throw invalid(
      'INVALID_PREDICT_INPUT',
      `input "${tensor.name}" is a numeric feature: send a numeric datatype such as FP32, not ${tensor.datatype}`,
    );
  }
  if (kind === 'categorical' && tensor.datatype !== 'BYTES') {
    throw invalid(
      'INVALID_PREDICT_INPUT',
      `input "${tensor.name}" is a categorical feature: send datatype BYTES (strings), not ${tensor.datatype}`,
    );
  }
  const expected = kind === 'numeric' ? 'number' : 'string';
  const bad = values.findIndex((value) => typeof value !== expected);
  if (bad >= 0) {
    throw invalid(
      'INVALID_PREDICT_INPUT',
      `input "${tensor.name}" element ${bad}: expected a ${expected} for ${tensor.datatype}, got ${JSON.stringify(values[bad])?.slice(0, 50)}`,
    );
  }
}

/** A v2 request's inputs as the predict path's input. */
export function toPredictInput(request: V2InferRequest, prep: Preprocessing): PredictInput {
  const features = new Map(prep.features.map((feature) => [feature.name, feature]));
  const { inputs } = request;
  if (inputs.length === 1 && !features.has(inputs[0].name) && inputs[0].shape.length === 2) {
    return { inputs: matrixRows(inputs[0], prep) };
  }
  let rows: number | undefined;
  const columns: { name: string; values: unknown[] }[] = [];
  const seen = new Set<string>();
  for (const tensor of inputs) {
    const feature = features.get(tensor.name);
    if (!feature) {
      throw invalid(
        'INVALID_PREDICT_INPUT',
        `input "${tensor.name}" is not a feature of this model; its inputs are ${prep.features.map((f) => `"${f.name}"`).join(', ')} ` +
          '(one tensor each), or one [N, features] tensor',
      );
    }
    if (seen.has(tensor.name)) throw invalid('INVALID_PREDICT_INPUT', `input "${tensor.name}" is given twice`);
    seen.add(tensor.name);
    if (!(tensor.shape.length === 1 || (tensor.shape.length === 2 && tensor.shape[1] === 1))) {
      throw invalid(
        'INVALID_PREDICT_INPUT',
        `input "${tensor.name}": shape must be [N] or [N, 1], got [${tensor.shape.join(', ')}]`,
      );
    }
    if (rows !== undefined && tensor.shape[0] !== rows) {
      throw invalid(
        'INVALID_PREDICT_INPUT',
        `input "${tensor.name}" has ${tensor.shape[0]} rows where the other inputs have ${rows}`,
      );
    }
    rows = tensor.shape[0];
    const values = elements(tensor);
    checkElements(tensor, values, feature.type);
    columns.push({ name: tensor.name, values });
  }
  const missing = prep.features.filter((feature) => !seen.has(feature.name)).map((feature) => `"${feature.name}"`);
  if (missing.length > 0)
    throw invalid('INVALID_PREDICT_INPUT', `inputs ${missing.join(', ')} are missing (one tensor per feature)`);
  return { rows: rowsOf(columns, rows ?? 0) };
}

/**
 * The columns as row objects, in a plain loop (Object.fromEntries per row took 16–20 ms of one
 * turn of the event loop for 10,000 rows of 3 features; this about a tenth). A feature named
 * `__proto__` would be a prototype assignment here, so such columns take Object.fromEntries.
 */
function rowsOf(columns: { name: string; values: unknown[] }[], rows: number): Record<string, unknown>[] {
  if (columns.some((column) => column.name === '__proto__')) {
    return Array.from({ length: rows }, (_, r) =>
      Object.fromEntries(columns.map((column) => [column.name, column.values[r]])),
    );
  }
  const out: Record<string, unknown>[] = [];
  for (let r = 0; r < rows; r++) {
    const row: Record<string, unknown> = {};
    for (const column of columns) row[column.name] = column.values[r];
    out.push(row);
  }
  return out;
}

function matrixRows(tensor: Tensor, prep: Preprocessing): unknown[][] {
  const [rows, width] = tensor.shape;
  if (width !== prep.features.length) {
    throw invalid(
      'INVALID_PREDICT_INPUT',
      `input "${tensor.name}": shape [${rows}, ${width}] must be [N, ${prep.features.length}], one column per feature`,
    );
  }
  const values = elements(tensor);
  const allNumeric = prep.features.every((feature) => feature.type === 'numeric');
  if (tensor.datatype === 'BYTES') {
    checkElements(tensor, values, 'categorical');
  } else if (allNumeric) {
    checkElements(tensor, values, 'numeric');
  } else {
    throw invalid(
      'INVALID_PREDICT_INPUT',
      `input "${tensor.name}": this model has categorical features; send the [N, ${width}] tensor as BYTES (strings), or one tensor per feature`,
    );
  }
  return Array.from({ length: rows }, (_, r) => values.slice(r * width, (r + 1) * width));
}

/** The prediction as the protocol's output tensors, those `requested` (all when absent). */
export function toOutputs(prediction: Prediction, prep: Preprocessing, requested?: { name: string }[]): Output[] {
  const names = outputNames(prep);
  for (const { name } of requested ?? []) {
    if (!names.includes(name)) {
      throw invalid(
        'INVALID_PREDICT_INPUT',
        `output "${name}" does not exist; this model's outputs are ${names.map((n) => `"${n}"`).join(', ')}`,
      );
    }
  }
  const wanted = new Set(requested && requested.length > 0 ? requested.map((output) => output.name) : names);
  const n = prediction.predictions.length;
  const outputs: Output[] = [];
  if (prep.target.task === 'regression') {
    outputs.push({ name: 'prediction', datatype: 'FP64', shape: [n], data: prediction.predictions });
    return outputs;
  }
  const probabilities = prediction.probabilities ?? [];
  const classes = prep.target.classes;
  if (wanted.has('label'))
    outputs.push({ name: 'label', datatype: 'BYTES', shape: [n], data: prediction.predictions.map(String) });
  if (wanted.has('class_index')) {
    outputs.push({
      name: 'class_index',
      datatype: 'INT64',
      shape: [n],
      data: prediction.predictions.map((p) => classes.indexOf(p)),
    });
  }
  if (wanted.has('probabilities')) {
    outputs.push({ name: 'probabilities', datatype: 'FP32', shape: [n, classes.length], data: probabilities.flat() });
  }
  return outputs;
}
