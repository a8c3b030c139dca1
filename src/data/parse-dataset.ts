import { CsvError, parse } from 'csv-parse/sync';
import { invalid } from '../errors';
import { checkColumnName, checkNoDuplicateNames } from './column-names';
import { typeColumn } from './column-types';
import {
  cellFromJson,
  DECIMAL_NUMBER,
  describeJsonValue,
  FLOAT32_RANGE,
  isPlainObject,
  outsideFloat32,
} from './json-cell';
import { makeTable, type CellValue, type Table } from './table';

/**
 * Turns an uploaded dataset (CSV text or JSON rows) into a typed `Table`, rejecting anything
 * that could not be trained on with a 400 that names the line or row and the column.
 */

export interface DatasetLimits {
  /** Data rows, not counting a CSV header. */
  maxRows: number;
  maxColumns: number;
}

/** Two rows is the least that can be split into training and validation data. */
export const MIN_ROWS = 2;

/** Cell spellings that mean "no value", compared after trimming and lower-casing. */
export const MISSING_TOKENS = new Set(['', 'na', 'nan', 'null']);

const INFINITY_WORD = /^[+-]?(?:inf|infinity)$/i;

interface CsvRecord {
  fields: string[];
  /** 1-based line on which the record ends (a quoted field may span lines). */
  line: number;
}

/**
 * Parses CSV text with a header row. Cells are trimmed; empty, NA, NaN and null (any case) are
 * missing. A column whose present cells are all decimal numbers is numeric; any other column is
 * categorical and keeps its cells' text exactly (so "007" stays "007").
 */
export function parseCsv(text: string, limits: DatasetLimits): Table {
  const records = readCsvRecords(text);
  if (records.length === 0) {
    throw invalid('INVALID_DATASET', 'the CSV is empty; a header row naming the columns is required');
  }
  const [header, ...rows] = records;
  const names = header.fields.map((field) => field.trim());
  checkColumnCount(names.length, limits);
  names.forEach((name, index) => checkColumnName(name, `header column ${index + 1}`));
  checkNoDuplicateNames(names);
  checkRowCount(rows.length, limits);
  for (const row of rows) {
    if (row.fields.length !== names.length) {
      throw invalid(
        'INVALID_DATASET',
        `line ${row.line} has ${row.fields.length} fields but the header has ${names.length}`,
      );
    }
  }
  const columns = names.map((name, index) => typeColumn(name, csvColumn(name, index, rows)));
  return makeTable(columns, rows.length);
}

/**
 * Parses an array of row objects. Columns are the union of all keys in first-seen order; a key
 * absent from a row is a missing value there. Rows are numbered from 0 in messages, as array
 * indices. Strings are taken literally (only `null` or an absent key means missing), since JSON
 * can say "missing" without the CSV spellings.
 */
export function parseJsonRows(rows: unknown, limits: DatasetLimits): Table {
  if (!Array.isArray(rows)) {
    throw invalid('INVALID_DATASET', 'the dataset must be a JSON array of row objects');
  }
  checkRowCount(rows.length, limits);
  rows.forEach((row, index) => {
    if (!isPlainObject(row)) {
      throw invalid(
        'INVALID_DATASET',
        `row ${index} must be an object of column values, got ${describeJsonValue(row)}`,
      );
    }
  });
  const objects = rows as Record<string, unknown>[];
  const names = unionOfKeys(objects, limits);
  if (names.length === 0) throw invalid('INVALID_DATASET', 'the rows have no keys; at least 1 column is required');
  const columns = names.map((name) => typeColumn(name, jsonColumn(name, objects)));
  return makeTable(columns, objects.length);
}

function readCsvRecords(text: string): CsvRecord[] {
  try {
    // relax_column_count: ragged rows are reported below, with our own message.
    const records = parse(text, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
    return records.map(({ record, info }) => ({ fields: record, line: info.lines }));
  } catch (error) {
    if (error instanceof CsvError) throw invalid('INVALID_DATASET', `the CSV could not be parsed: ${error.message}`);
    throw error;
  }
}

/** The cells of column `index`, typed: numbers if every present cell is a decimal number. */
function csvColumn(name: string, index: number, rows: CsvRecord[]): CellValue[] {
  const texts = rows.map((row) => {
    const text = row.fields[index].trim();
    if (isInfiniteNumberText(text)) {
      throw invalid(
        'INVALID_DATASET',
        `column "${name}" line ${row.line}: "${text}" is not a finite number; use an empty cell for a missing value`,
      );
    }
    return MISSING_TOKENS.has(text.toLowerCase()) ? null : text;
  });
  const numeric = texts.every((text) => text === null || DECIMAL_NUMBER.test(text));
  if (!numeric) return texts;
  return texts.map((text, r) => {
    if (text === null) return null;
    const value = Number(text);
    if (outsideFloat32(value)) throw outOfRange(`column "${name}" line ${rows[r].line}: ${text}`);
    return value;
  });
}

export function outOfRange(where: string) {
  return invalid('INVALID_DATASET', `${where} is outside the range training computes in (${FLOAT32_RANGE})`);
}

/**
 * "Infinity" or an overflowing "1e999" is no usable number and no meaningful category either;
 * letting it through would poison a column's mean, so it is rejected.
 */
export function isInfiniteNumberText(text: string): boolean {
  return INFINITY_WORD.test(text) || (DECIMAL_NUMBER.test(text) && !Number.isFinite(Number(text)));
}

function unionOfKeys(rows: Record<string, unknown>[], limits: DatasetLimits): string[] {
  const names: string[] = [];
  const seen = new Set<string>();
  rows.forEach((row, index) => {
    for (const key of Object.keys(row)) {
      if (seen.has(key)) continue;
      checkColumnName(key, `a key in row ${index}`);
      seen.add(key);
      names.push(key);
      checkColumnCount(names.length, limits);
    }
  });
  return names;
}

function jsonColumn(name: string, rows: Record<string, unknown>[]): CellValue[] {
  return rows.map((row, index) => {
    if (!Object.prototype.hasOwnProperty.call(row, name)) return null;
    const value = row[name];
    const cell = cellFromJson(value);
    if (cell === undefined) {
      throw invalid(
        'INVALID_DATASET',
        `row ${index} column "${name}": ${describeJsonValue(value)} is not allowed; ` +
          'a value must be a finite number, a string, a boolean or null',
      );
    }
    if (typeof cell === 'number' && outsideFloat32(cell)) throw outOfRange(`row ${index} column "${name}": ${cell}`);
    return cell;
  });
}

export function checkRowCount(count: number, limits: DatasetLimits): void {
  if (count > limits.maxRows) {
    throw invalid(
      'INVALID_DATASET',
      `the dataset has ${count} rows; the limit is ${limits.maxRows} (the server's MAX_DATASET_ROWS setting)`,
    );
  }
  if (count < MIN_ROWS) {
    throw invalid('INVALID_DATASET', `the dataset has ${count} data rows; at least ${MIN_ROWS} are required`);
  }
}

export function checkColumnCount(count: number, limits: DatasetLimits): void {
  if (count > limits.maxColumns) {
    throw invalid(
      'INVALID_DATASET',
      `the dataset has more than ${limits.maxColumns} columns; the limit is ${limits.maxColumns} ` +
        "(the server's MAX_DATASET_COLUMNS setting)",
    );
  }
  if (count < 1) throw invalid('INVALID_DATASET', 'the dataset has no columns; at least 1 is required');
}
