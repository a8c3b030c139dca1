/**
 * The in-memory form of a dataset: typed columns stored column-major, because preprocessing
 * works a column at a time (statistics, category lists) and a column is one array to scan.
 */

/** One cell. `null` means missing, whatever spelling the source used for it. */
export type CellValue = number | string | null;

/** `numeric` columns hold only numbers (and nulls); `categorical` columns only strings (and nulls). */
export type ColumnType = 'numeric' | 'categorical';

export interface ColumnInfo {
  name: string;
  type: ColumnType;
}

export interface Table {
  /** In source order; names are unique. */
  columns: ColumnInfo[];
  rowCount: number;
  /**
   * Column name → that column's `rowCount` values. Created with a null prototype (see
   * `createColumnData`), so a column named `constructor` or `toString` is an ordinary key.
   */
  data: Record<string, CellValue[]>;
}

/**
 * A table's columns for code that only reads cells by index: a `Table`, or one chunk of a stored
 * dataset whose gap-free numeric columns are float32 views of the chunk's bytes rather than JS
 * arrays (`DatasetStore.chunkView`, what training from chunks reads). Every `Table` is one.
 */
export interface TableView {
  columns: ColumnInfo[];
  rowCount: number;
  data: Record<string, ArrayLike<CellValue>>;
}

/**
 * Column names come from users, so they are used as keys only in null-prototype objects: there
 * `constructor`, `hasOwnProperty` and the like are plain keys and nothing is inherited. Only
 * `__proto__` is rejected outright (see `column-names.ts`), because assigning it on any ordinary
 * object elsewhere in the service would replace that object's prototype.
 */
export function createColumnData(): Record<string, CellValue[]> {
  return Object.create(null) as Record<string, CellValue[]>;
}

export function hasColumn(table: TableView, name: string): boolean {
  return Object.prototype.hasOwnProperty.call(table.data, name);
}

/** The values of a column; throws on an unknown name, which is a caller bug, not bad input. */
export function columnValues(table: Table, name: string): CellValue[] {
  if (!hasColumn(table, name)) throw new Error(`table has no column "${name}"`);
  return table.data[name];
}

/** The cells of a column of any view, by index; throws on an unknown name as `columnValues` does. */
export function viewColumn(table: TableView, name: string): ArrayLike<CellValue> {
  if (!hasColumn(table, name)) throw new Error(`table has no column "${name}"`);
  return table.data[name];
}

export function columnInfo(table: TableView, name: string): ColumnInfo | undefined {
  return table.columns.find((column) => column.name === name);
}

export function columnNames(table: TableView): string[] {
  return table.columns.map((column) => column.name);
}

/** Builds a table from already-typed columns, keeping the null-prototype invariant. */
export function makeTable(columns: { info: ColumnInfo; values: CellValue[] }[], rowCount: number): Table {
  const data = createColumnData();
  for (const { info, values } of columns) data[info.name] = values;
  return { columns: columns.map(({ info }) => info), rowCount, data };
}
