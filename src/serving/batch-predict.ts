import { quoteNames } from '../data/column-names';
import type { Preprocessing } from '../data/preprocessing';
import { columnValues, type CellValue, type ColumnInfo, type Table } from '../data/table';
import type { ChunkResult } from '../store/batch-prediction-store';
import { decodeOutput, inferTable } from './predict';
import type { ServedModel } from './served-model';

/**
 * Batch prediction's own part of serving: which dataset a model can predict, which columns
 * identify a row, one chunk's predictions (through `inferTable` and `decodeOutput`, the path
 * /v1 predict takes), and the results as CSV rows or dataset cells.
 */

/** Why the model cannot predict the dataset's rows (a feature it lacks or holds with another type), or undefined. */
export function datasetMismatch(prep: Preprocessing, columns: ColumnInfo[]): string | undefined {
  const byName = new Map(columns.map((column) => [column.name, column]));
  const missing = prep.features.filter((feature) => !byName.has(feature.name)).map((f) => f.name);
  if (missing.length) {
    return `the dataset has no column ${quoteNames(missing)}, which the model needs as feature${missing.length > 1 ? 's' : ''}`;
  }
  const wrong = prep.features.find((feature) => byName.get(feature.name)!.type !== feature.type);
  if (wrong) {
    return `column "${wrong.name}" is ${byName.get(wrong.name)!.type} in the dataset, but the model was trained on it as ${wrong.type}`;
  }
  return undefined;
}

const ID_NAME = /^id$|[_-]id$/i;

/** The columns named `id` or ending in `_id` / `-id`, any case. */
export function defaultIdColumns(columns: ColumnInfo[]): string[] {
  return columns.filter((column) => ID_NAME.test(column.name)).map((column) => column.name);
}

/** The names of the result columns: the id columns (or `row`), `prediction`, then `probability_<class>` per class. */
export function resultColumnNames(idColumns: string[], classes?: (number | string)[]): string[] {
  return [
    ...(idColumns.length ? idColumns : ['row']),
    'prediction',
    ...(classes ?? []).map((c) => `probability_${String(c)}`),
  ];
}

/** One chunk of a dataset predicted: its id cells and the decoded predictions, as stored. */
export async function predictChunk(
  model: ServedModel,
  table: Table,
  idColumns: string[],
  firstRow: number,
): Promise<ChunkResult> {
  const output = await inferTable(model, table, firstRow);
  const decoded = decodeOutput(model, output, table.rowCount);
  const ids = idColumns.map((name) => columnValues(table, name));
  if (!decoded.probabilities) return { rows: table.rowCount, ids, values: decoded.predictions as number[] };
  const classes = decoded.classes!;
  const index = new Map(classes.map((c, i) => [c, i]));
  const classIndex = Float32Array.from(decoded.predictions, (p) => index.get(p)!);
  const probabilities = new Float32Array(table.rowCount * classes.length);
  decoded.probabilities.forEach((row, r) => probabilities.set(row, r * classes.length));
  return { rows: table.rowCount, ids, classIndex, probabilities };
}

/**
 * The rows of a chunk's results as cells in `resultColumnNames` order; `firstRow` is the chunk's
 * first row index in the dataset. Probabilities are the float32 values /v1 predict returns.
 */
export function resultCells(result: ChunkResult, firstRow: number, classes?: (number | string)[]): CellValue[][] {
  const rows: CellValue[][] = [];
  const width = classes?.length ?? 0;
  for (let r = 0; r < result.rows; r++) {
    const cells: CellValue[] = result.ids.length ? result.ids.map((column) => column[r]) : [firstRow + r];
    if (result.values) cells.push(result.values[r]);
    else {
      cells.push(classes![result.classIndex![r]]);
      for (let c = 0; c < width; c++) cells.push(result.probabilities![r * width + c]);
    }
    rows.push(cells);
  }
  return rows;
}

/** One CSV line (RFC 4180 quoting where needed; a missing cell is empty). */
export function csvLine(cells: readonly CellValue[]): string {
  return cells.map(csvField).join(',') + '\n';
}

function csvField(cell: CellValue): string {
  if (cell === null) return '';
  if (typeof cell === 'number') return String(cell);
  return /[",\r\n]/.test(cell) || cell !== cell.trim() ? `"${cell.replace(/"/g, '""')}"` : cell;
}
