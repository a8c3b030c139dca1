import { invalid } from '../errors';
import { nearestName, quoteNames } from './column-names';
import {
  cellFromJson,
  describeJsonValue,
  FLOAT32_RANGE,
  isPlainObject,
  numberFromText,
  outsideFloat32,
} from './json-cell';
import type { FeatureEncoding, Preprocessing } from './preprocessing';
import { makeTable, type CellValue, type Table } from './table';

/**
 * Validates prediction input against a model's fitted features and turns it into a `Table`
 * with exactly those columns, ready for `encodeFeatures`. Rows are numbered from 0 in messages,
 * as array indices. Only the features are read, so extra keys and the target are ignored.
 */

/** Used when the caller sets no cap; a request is handled in one batch, so it must stay bounded. */
export const DEFAULT_MAX_PREDICT_ROWS = 10_000;

/**
 * `rows` is an array of `{ feature: value }` objects. Every feature must be present; an
 * explicit `null` means missing, while an absent key is taken as a mistake (a typo in a name
 * would otherwise silently predict from a missing value).
 */
export function rowsToTable(prep: Preprocessing, rows: unknown, maxRows = DEFAULT_MAX_PREDICT_ROWS): Table {
  const list = checkInputList(rows, 'rows', 'objects', maxRows);
  const columns = emptyColumns(prep, list.length);
  list.forEach((row, r) => {
    if (!isPlainObject(row)) {
      throw invalid(
        'INVALID_PREDICT_INPUT',
        `row ${r} must be an object of feature values, got ${describeJsonValue(row)}`,
      );
    }
    prep.features.forEach((feature, f) => {
      if (!Object.prototype.hasOwnProperty.call(row, feature.name)) {
        const names = prep.features.map((f) => f.name);
        const misspelt = Object.keys(row).find((key) => !names.includes(key) && nearestName(key, [feature.name]));
        throw invalid(
          'INVALID_PREDICT_INPUT',
          `row ${r} is missing feature "${feature.name}"${misspelt === undefined ? '' : ` (is ${JSON.stringify(misspelt)} a misspelling?)`}; ` +
            'pass null for a missing value',
        );
      }
      columns[f].values[r] = predictionCell(feature, row[feature.name], r);
    });
  });
  return makeTable(columns, list.length);
}

/**
 * `inputs` is an array of arrays holding one raw value per feature, in `prep.features` order
 * (numbers for numeric features; strings, numbers or booleans for categorical ones).
 */
export function vectorsToTable(prep: Preprocessing, inputs: unknown, maxRows = DEFAULT_MAX_PREDICT_ROWS): Table {
  const list = checkInputList(inputs, 'inputs', 'arrays', maxRows);
  const columns = emptyColumns(prep, list.length);
  const width = prep.features.length;
  const order = () =>
    quoteNames(
      prep.features.map((feature) => feature.name),
      Infinity,
    );
  list.forEach((vector, r) => {
    if (!Array.isArray(vector)) {
      throw invalid(
        'INVALID_PREDICT_INPUT',
        `row ${r} must be an array of ${width} values in this order: ${order()}; got ${describeJsonValue(vector)}`,
      );
    }
    if (vector.length !== width) {
      throw invalid(
        'INVALID_PREDICT_INPUT',
        `row ${r} has ${vector.length} values; expected ${width}, in this order: ${order()}`,
      );
    }
    prep.features.forEach((feature, f) => {
      columns[f].values[r] = predictionCell(feature, vector[f], r);
    });
  });
  return makeTable(columns, list.length);
}

function checkInputList(input: unknown, field: string, kind: string, maxRows: number): unknown[] {
  if (!Array.isArray(input) || input.length === 0) {
    throw invalid('INVALID_PREDICT_INPUT', `${field} must be a non-empty array of ${kind}`);
  }
  if (input.length > maxRows) {
    throw invalid(
      'INVALID_PREDICT_INPUT',
      `${field} has ${input.length} rows; the limit is ${maxRows} per request (the server's MAX_PREDICT_ROWS setting)`,
    );
  }
  return input;
}

function emptyColumns(prep: Preprocessing, rowCount: number) {
  return prep.features.map((feature) => ({
    info: { name: feature.name, type: feature.type },
    values: new Array<CellValue>(rowCount).fill(null),
  }));
}

/** One value, checked against what the feature was trained on. */
function predictionCell(feature: FeatureEncoding, value: unknown, row: number): CellValue {
  if (value === null) return null;
  if (feature.type === 'numeric') {
    // A string that spells a decimal number ("174.09", as CSV-minded clients send) is that number.
    const number = typeof value === 'string' ? numberFromText(value) : value;
    if (typeof number === 'number' && Number.isFinite(number)) {
      if (!outsideFloat32(number)) return number;
      const shown = typeof value === 'string' ? value : number;
      throw invalid(
        'INVALID_PREDICT_INPUT',
        `row ${row} feature "${feature.name}" is ${shown}, outside the range the model computes in (${FLOAT32_RANGE})`,
      );
    }
    throw invalid(
      'INVALID_PREDICT_INPUT',
      `row ${row} feature "${feature.name}" must be a finite number or null, got ${describeJsonValue(value)}`,
    );
  }
  const cell = cellFromJson(value);
  if (cell === undefined) {
    throw invalid(
      'INVALID_PREDICT_INPUT',
      `row ${row} feature "${feature.name}" must be a string, number, boolean or null, got ${describeJsonValue(value)}`,
    );
  }
  // Categorical columns hold strings; a number here matches the category spelled the same way.
  return cell === null ? null : String(cell);
}
