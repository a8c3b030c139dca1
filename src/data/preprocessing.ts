import { invalid, type AppError } from '../errors';
import type { Task } from '../ml/spec';
import { quoteNames } from './column-names';
import {
  columnInfo,
  columnNames,
  columnValues,
  hasColumn,
  viewColumn,
  type CellValue,
  type ColumnInfo,
  type Table,
  type TableView,
} from './table';

/**
 * Turns table columns into the numbers a network trains on, and back. Everything is fitted on
 * the training rows only, so validation scores are not flattered by statistics that already
 * saw the validation data. The fitted `Preprocessing` is plain JSON and is stored with the
 * model, so prediction applies exactly the same encoding.
 */

export type FeatureEncoding =
  /** Standardized to (x - mean) / std; a missing value becomes the mean, i.e. 0. */
  | { name: string; type: 'numeric'; mean: number; std: number }
  /** One-hot over `categories` (sorted); a missing or unseen value is all zeros. */
  | { name: string; type: 'categorical'; categories: string[] };

export type TargetEncoding =
  /** `classes[i]` is the class of output unit i; numbers stay numbers, sorted ascending. */
  | { name: string; task: 'classification'; classes: (number | string)[] }
  /** The network learns (y - mean) / std, so the loss scale does not depend on the units of y. */
  | { name: string; task: 'regression'; mean: number; std: number };

export interface Preprocessing {
  /** In table column order. */
  features: FeatureEncoding[];
  target: TargetEncoding;
  /** Width of one encoded row: 1 per numeric feature plus one per category. */
  inputSize: number;
}

/** Indices of the rows whose target is present; rows without a target cannot be trained on. */
export function rowsWithTarget(table: TableView, target: string): Int32Array {
  checkTargetExists(table, target);
  const values = viewColumn(table, target);
  let count = 0;
  for (let row = 0; row < values.length; row++) if (values[row] !== null) count++;
  const rows = new Int32Array(count);
  for (let row = 0, i = 0; row < values.length; row++) if (values[row] !== null) rows[i++] = row;
  return rows;
}

/**
 * Fits the encoding of every column except the target and `drop` on the rows `rowIndices`
 * (normally the training split of `rowsWithTarget`).
 */
export function fitPreprocessing(
  table: Table,
  target: string,
  task: Task,
  rowIndices: ArrayLike<number>,
  drop: string[] = [],
): Preprocessing {
  const featureColumns = featureColumnsOf(table, target, drop);
  const features = featureColumns.map((column) => fitFeature(column, columnValues(table, column.name), rowIndices));
  const inputSize = features.reduce((sum, feature) => sum + featureWidth(feature), 0);
  if (inputSize === 0) {
    throw invalid(
      'INVALID_TRAINING_REQUEST',
      `the feature columns (${quoteNames(featureColumns.map((c) => c.name))}) have no values in the training rows`,
    );
  }
  return { features, target: fitTarget(table, target, task, rowIndices), inputSize };
}

/** The columns a model's features come from: all but the target and `drop`; throws when that is none. */
function featureColumnsOf(table: TableView, target: string, drop: string[]): ColumnInfo[] {
  checkTargetExists(table, target);
  for (const name of drop) {
    if (!hasColumn(table, name)) {
      throw invalid(
        'INVALID_TRAINING_REQUEST',
        `drop lists column "${name}", which the dataset does not have; columns: ${quoteNames(columnNames(table))}`,
      );
    }
  }
  const dropped = new Set(drop);
  const featureColumns = table.columns.filter((column) => column.name !== target && !dropped.has(column.name));
  if (featureColumns.length === 0) {
    throw invalid(
      'INVALID_TRAINING_REQUEST',
      `no feature columns are left once the target "${target}" and dropped columns are removed; at least 1 is required`,
    );
  }
  return featureColumns;
}

/** Running sums of one numeric column over two passes, for the same figures as `meanAndStd`. */
class MomentSums {
  n = 0;
  sum = 0;
  largest = 0;
  squares = 0;
  mean = 0;
}

/**
 * `fitPreprocessing` over a dataset read a part at a time (its chunks, in order), equal to it on
 * the whole table with the same training rows: numeric columns in two passes over the parts —
 * `addSums` (sums, largest magnitude), then `addDeviations` (squared deviations from the mean) —
 * adding in the same order as `meanAndStd` does, categories and classes as sets. `table` is any
 * part (for its columns).
 */
export class PreprocessingFit {
  private readonly featureColumns: ColumnInfo[];
  private readonly moments = new Map<string, MomentSums>();
  private readonly categories = new Map<string, Set<string>>();
  private readonly classes = new Set<number | string>();
  private readonly targetType: ColumnInfo['type'] | undefined;
  private means = false;

  constructor(
    table: TableView,
    private readonly target: string,
    private readonly task: Task,
    drop: string[] = [],
  ) {
    this.featureColumns = featureColumnsOf(table, target, drop);
    this.targetType = columnInfo(table, target)?.type;
    for (const column of this.featureColumns) {
      if (column.type === 'numeric') this.moments.set(column.name, new MomentSums());
      else this.categories.set(column.name, new Set());
    }
    if (task === 'regression') this.moments.set(target, new MomentSums());
  }

  /** First pass over one part's training rows. */
  addSums(table: TableView, rowIndices: ArrayLike<number>): void {
    for (const [name, sums] of this.moments) {
      const values = viewColumn(table, name);
      for (let i = 0; i < rowIndices.length; i++) {
        const x = values[rowIndices[i]];
        if (x === null) continue;
        sums.n++;
        sums.sum = sums.sum + (x as number);
        sums.largest = Math.max(sums.largest, Math.abs(x as number));
      }
    }
    for (const [name, seen] of this.categories) {
      const values = viewColumn(table, name);
      for (let i = 0; i < rowIndices.length; i++) {
        const value = values[rowIndices[i]];
        if (value !== null) seen.add(String(value));
      }
    }
    if (this.task === 'classification') {
      const values = viewColumn(table, this.target);
      for (let i = 0; i < rowIndices.length; i++) {
        const value = values[rowIndices[i]];
        if (value !== null) this.classes.add(classLabel(value));
      }
    }
  }

  /** Second pass over the same parts and rows, after every `addSums`. */
  addDeviations(table: TableView, rowIndices: ArrayLike<number>): void {
    if (!this.means) {
      for (const sums of this.moments.values()) sums.mean = sums.n > 0 ? sums.sum / sums.n : 0;
      this.means = true;
    }
    for (const [name, sums] of this.moments) {
      const values = viewColumn(table, name);
      for (let i = 0; i < rowIndices.length; i++) {
        const x = values[rowIndices[i]];
        if (x !== null) sums.squares = sums.squares + ((x as number) - sums.mean) ** 2;
      }
    }
  }

  finish(): Preprocessing {
    const meanAndStdOf = (name: string) => {
      const sums = this.moments.get(name)!;
      if (sums.n === 0) return { mean: 0, std: 1 };
      const std = Math.sqrt(sums.squares / sums.n);
      return { mean: sums.mean, std: std <= 1e-10 * sums.largest ? 1 : std };
    };
    const features: FeatureEncoding[] = this.featureColumns.map((column) =>
      column.type === 'numeric'
        ? { name: column.name, type: 'numeric', ...meanAndStdOf(column.name) }
        : {
            name: column.name,
            type: 'categorical',
            categories: [...this.categories.get(column.name)!].sort(compareCodeUnits),
          },
    );
    const inputSize = features.reduce((sum, feature) => sum + featureWidth(feature), 0);
    if (inputSize === 0) {
      throw invalid(
        'INVALID_TRAINING_REQUEST',
        `the feature columns (${quoteNames(this.featureColumns.map((c) => c.name))}) have no values in the training rows`,
      );
    }
    return { features, target: this.fitTarget(meanAndStdOf), inputSize };
  }

  private fitTarget(meanAndStdOf: (name: string) => { mean: number; std: number }): TargetEncoding {
    const { target, task } = this;
    if (task === 'regression') {
      if (this.targetType !== 'numeric') {
        throw invalid(
          'INVALID_TRAINING_REQUEST',
          `regression needs a numeric target, but column "${target}" is categorical; use task "classification"`,
        );
      }
      if (this.moments.get(target)!.n === 0) {
        throw invalid('INVALID_TRAINING_REQUEST', `target column "${target}" has no values in the training rows`);
      }
      return { name: target, task, ...meanAndStdOf(target) };
    }
    const classes = [...this.classes].sort(compareClasses);
    if (classes.length < 2) {
      throw invalid(
        'INVALID_TRAINING_REQUEST',
        `classification needs at least 2 classes, but target column "${target}" has ${classes.length} ` +
          `in the training rows${classes.length === 1 ? ` (${JSON.stringify(classes[0])})` : ''}`,
      );
    }
    return { name: target, task, classes };
  }
}

const ENCODE_BLOCK_ROWS = 512;

/** Rows [from, to) of one gap-free numeric column, standardized into column `offset` of `out`. */
function standardizeBlock(
  values: Float32Array,
  mean: number,
  std: number,
  rowIndices: ArrayLike<number>,
  from: number,
  to: number,
  out: Float32Array,
  width: number,
  offset: number,
): void {
  for (let i = from; i < to; i++) out[i * width + offset] = (values[rowIndices[i]] - mean) / std;
}

/**
 * Encodes rows `rowIndices` of `table` as a row-major `rowIndices.length × inputSize` matrix:
 * into `reuse` (zeroed first) when it has exactly that size, else a new array.
 */
export function encodeFeatures(
  prep: Preprocessing,
  table: TableView,
  rowIndices: ArrayLike<number>,
  reuse?: Float32Array,
): Float32Array {
  const width = prep.inputSize;
  const out = reuse?.length === rowIndices.length * width ? reuse.fill(0) : new Float32Array(rowIndices.length * width);
  // Gap-free stored numeric columns (DatasetStore.chunkView gives them as float32 arrays): every
  // cell is a number, so they are `standardize` without its checks, and written in blocks of
  // ENCODE_BLOCK_ROWS rows, every such column for a block before the next (one strided pass over
  // the whole output per column missed the cache on every write). The same values.
  const typed: { values: Float32Array; offset: number; mean: number; std: number }[] = [];
  let offset = 0;
  for (const feature of prep.features) {
    const values = viewColumn(table, feature.name);
    if (feature.type === 'numeric' && values instanceof Float32Array) {
      typed.push({ values, offset, mean: feature.mean, std: feature.std });
    } else if (feature.type === 'numeric') {
      for (let i = 0; i < rowIndices.length; i++) {
        out[i * width + offset] = standardize(feature, values[rowIndices[i]]);
      }
    } else {
      const slot = new Map(feature.categories.map((category, index) => [category, index]));
      for (let i = 0; i < rowIndices.length; i++) {
        const value = values[rowIndices[i]];
        const index = value === null ? undefined : slot.get(String(value));
        if (index !== undefined) out[i * width + offset + index] = 1;
      }
    }
    offset += featureWidth(feature);
  }
  for (let from = 0; from < rowIndices.length; from += ENCODE_BLOCK_ROWS) {
    const to = Math.min(from + ENCODE_BLOCK_ROWS, rowIndices.length);
    for (const t of typed) standardizeBlock(t.values, t.mean, t.std, rowIndices, from, to, out, width, t.offset);
  }
  return out;
}

/**
 * Classification: the class index of each row (as a float, for a sparse categorical loss).
 * Regression: the standardized target. Every row must have a target (see `rowsWithTarget`).
 */
export function encodeTargets(prep: Preprocessing, table: TableView, rowIndices: ArrayLike<number>): Float32Array {
  const { target } = prep;
  const values = viewColumn(table, target.name);
  const out = new Float32Array(rowIndices.length);
  const classIndex =
    target.task === 'classification' ? new Map(target.classes.map((c, index) => [c, index])) : undefined;
  for (let i = 0; i < rowIndices.length; i++) {
    const row = rowIndices[i];
    const value = values[row];
    if (value === null) throw new Error(`row ${row} has no target; select rows with rowsWithTarget`);
    if (target.task === 'regression') {
      out[i] = (Number(value) - target.mean) / target.std;
      continue;
    }
    const index = classIndex?.get(classLabel(value));
    if (index === undefined) throw targetClassAbsentError(row, value, target.classes);
    out[i] = index;
  }
  return out;
}

/** The error of a row whose class is absent from the training rows (`row` of its table or chunk). */
export function targetClassAbsentError(row: number, value: CellValue, classes: (number | string)[]): AppError {
  return invalid(
    'INVALID_TRAINING_REQUEST',
    `row ${row} has target ${JSON.stringify(value)}, a class absent from the training rows ` +
      `(${quoteNames(classes.map(String))}); give each class at least 2 rows`,
  );
}

/** One entry per encoded input, in encoded order: `age` for a numeric feature, `color=red` for a category. */
export function encodedFeatureNames(prep: Preprocessing): { column: string; label: string }[] {
  return prep.features.flatMap((feature) =>
    feature.type === 'numeric'
      ? [{ column: feature.name, label: feature.name }]
      : feature.categories.map((category) => ({ column: feature.name, label: `${feature.name}=${category}` })),
  );
}

/** Maps a network output back to the target's units. */
export function decodeRegression(prep: Preprocessing, standardized: number): number {
  if (prep.target.task !== 'regression') throw new Error('decodeRegression needs a regression target');
  return standardized * prep.target.std + prep.target.mean;
}

/** The class of output unit `index`, with its original type (a number stays a number). */
export function decodeClass(prep: Preprocessing, index: number): number | string {
  if (prep.target.task !== 'classification') throw new Error('decodeClass needs a classification target');
  const { classes } = prep.target;
  if (!Number.isInteger(index) || index < 0 || index >= classes.length) {
    throw new Error(`class index ${index} is outside 0..${classes.length - 1}`);
  }
  return classes[index];
}

export function featureWidth(feature: FeatureEncoding): number {
  return feature.type === 'numeric' ? 1 : feature.categories.length;
}

function fitFeature(column: ColumnInfo, values: CellValue[], rowIndices: ArrayLike<number>): FeatureEncoding {
  const present = presentValues(values, rowIndices);
  if (column.type === 'numeric') return { name: column.name, type: 'numeric', ...meanAndStd(present as number[]) };
  const categories = [...new Set(present.map(String))].sort(compareCodeUnits);
  return { name: column.name, type: 'categorical', categories };
}

function fitTarget(table: Table, target: string, task: Task, rowIndices: ArrayLike<number>): TargetEncoding {
  const type = columnInfo(table, target)?.type;
  const present = presentValues(columnValues(table, target), rowIndices);
  if (task === 'regression') {
    if (type !== 'numeric') {
      throw invalid(
        'INVALID_TRAINING_REQUEST',
        `regression needs a numeric target, but column "${target}" is categorical; use task "classification"`,
      );
    }
    if (present.length === 0) {
      throw invalid('INVALID_TRAINING_REQUEST', `target column "${target}" has no values in the training rows`);
    }
    return { name: target, task, ...meanAndStd(present as number[]) };
  }
  const classes = [...new Set(present.map(classLabel))].sort(compareClasses);
  if (classes.length < 2) {
    throw invalid(
      'INVALID_TRAINING_REQUEST',
      `classification needs at least 2 classes, but target column "${target}" has ${classes.length} ` +
        `in the training rows${classes.length === 1 ? ` (${JSON.stringify(classes[0])})` : ''}`,
    );
  }
  return { name: target, task, classes };
}

/**
 * Population mean and standard deviation. A constant column gets std 1 rather than 0, so it
 * encodes as 0 instead of dividing by zero; "constant" allows the rounding noise a sum of equal
 * floats leaves behind, which would otherwise blow tiny differences up to ±1.
 */
export function meanAndStd(values: readonly number[]): { mean: number; std: number } {
  if (values.length === 0) return { mean: 0, std: 1 };
  const mean = values.reduce((sum, x) => sum + x, 0) / values.length;
  const variance = values.reduce((sum, x) => sum + (x - mean) ** 2, 0) / values.length;
  const std = Math.sqrt(variance);
  const largest = values.reduce((max, x) => Math.max(max, Math.abs(x)), 0);
  return { mean, std: std <= 1e-10 * largest ? 1 : std };
}

function standardize(feature: { name: string; mean: number; std: number }, value: CellValue): number {
  if (value === null) return 0;
  if (typeof value !== 'number') throw new Error(`numeric feature "${feature.name}" holds a string`);
  return (value - feature.mean) / feature.std;
}

function presentValues(values: CellValue[], rowIndices: ArrayLike<number>): (number | string)[] {
  const present: (number | string)[] = [];
  for (let i = 0; i < rowIndices.length; i++) {
    const value = values[rowIndices[i]];
    if (value !== null) present.push(value);
  }
  return present;
}

/** Numbers numerically; strings by UTF-16 code unit, which unlike localeCompare never varies by host. */
/**
 * A numeric class as the user wrote it. Chunked datasets store numbers as float32, so a class
 * written 0.1 reads back as 0.100000001490116…; the shortest decimal that rounds to the same
 * float32 gives 0.1 back. A number that is not a float32 (an older JSON dataset's float64) is kept.
 */
export function classLabel(value: number | string): number | string {
  if (typeof value === 'string' || Number.isInteger(value) || Math.fround(value) !== value) return value;
  for (let digits = 1; digits < 9; digits++) {
    const shorter = Number(value.toPrecision(digits));
    if (Math.fround(shorter) === value) return shorter;
  }
  return value;
}

function compareClasses(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return compareCodeUnits(String(a), String(b));
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function checkTargetExists(table: TableView, target: string): void {
  if (!hasColumn(table, target)) {
    throw invalid(
      'INVALID_TRAINING_REQUEST',
      `target column "${target}" does not exist; columns: ${quoteNames(columnNames(table))}`,
    );
  }
}
