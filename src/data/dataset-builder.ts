import { invalid } from '../errors';
import { bitmapBytes, ColumnKind, encodeChunk, type ChunkColumn } from './column-chunk';
import { MAX_PROFILED_VALUES, type ColumnProfile } from './column-profile';
import { checkColumnName, checkNoDuplicateNames } from './column-names';
import { decimalFromBytes, isAsciiSpace, isMissingBytes, mayBeInfinityWord } from './cell-bytes';
import { FieldKind, type CsvFields } from './csv-tokenizer';
import { cellFromJson, DECIMAL_NUMBER, describeJsonValue, FLOAT32_MAX } from './json-cell';
import {
  checkColumnCount,
  checkRowCount,
  isInfiniteNumberText,
  MISSING_TOKENS,
  outOfRange,
  type DatasetLimits,
} from './parse-dataset';
import type { CellValue, ColumnInfo } from './table';

/**
 * Builds a dataset's stored chunks one row at a time, as the rows arrive: types are inferred on
 * the way (a column is numeric while every present cell is a number), categories are coded in
 * first-seen order, and the column profiles the submission checks read are counted as well. At
 * most one chunk of rows is held (`chunkRows` × columns × 4 bytes, plus 1 bit a cell for
 * missing values), whatever the dataset's size; the dictionaries grow with the distinct values.
 *
 * A numeric column that meets a non-number after some numbers has lost the exact text of those
 * numbers (they were kept as float32), and "007" must stay "007" once the column is categorical.
 * So such a column is marked and the caller reads the source again with that column forced
 * categorical from the first row (`secondPass` in the result): a second pass only for datasets
 * where a column changes type.
 */

export interface BuilderOptions {
  limits: DatasetLimits;
  /** Rows per stored chunk. */
  chunkRows: number;
  /** Columns (by name) read as categorical from the first row: the second pass. */
  categorical?: ReadonlySet<string>;
  /**
   * Receives each full chunk, in order, one at a time: a call starts once the previous one has
   * resolved (the next chunk fills meanwhile); `finish` and `settle` wait for the last.
   */
  onChunk: (index: number, bytes: Buffer) => Promise<void>;
}

export interface BuiltDataset {
  rows: number;
  columns: ColumnInfo[];
  /** Column name → its categories, code order (categorical columns only). */
  categories: Map<string, string[]>;
  profiles: Map<string, ColumnProfile>;
  chunks: number;
}

export type BuildResult = { secondPass: Set<string> } | { dataset: BuiltDataset };

/**
 * Rows per distinct float32 value, up to MAX_PROFILED_VALUES values, as a Map<number, number>
 * would count them (0 and -0 are one value; entries in first-seen order), without a heap number
 * per value: an open-addressing table of the values' bits in typed arrays, grown by doubling.
 * Past MAX_PROFILED_VALUES it only says so, and lets its tables go.
 */
class Float32Counts {
  private keys = new Int32Array(64);
  private counts = new Int32Array(64);
  private used = new Uint8Array(64);
  /** The slot of each entry, in first-seen order. */
  private order = new Int32Array(32);
  private size = 0;
  private overflow = false;
  private static readonly bits = new Int32Array(1);
  private static readonly float = new Float32Array(Float32Counts.bits.buffer);

  add(value: number): void {
    if (this.overflow) return;
    Float32Counts.float[0] = value;
    const key = value === 0 ? 0 : Float32Counts.bits[0];
    let slot = this.probe(key);
    if (this.used[slot] === 1) {
      this.counts[slot]++;
      return;
    }
    if (this.size === MAX_PROFILED_VALUES) {
      this.overflow = true;
      this.keys = this.counts = this.order = new Int32Array(0);
      this.used = new Uint8Array(0);
      return;
    }
    if ((this.size + 1) * 2 > this.keys.length) {
      this.grow();
      slot = this.probe(key);
    }
    this.used[slot] = 1;
    this.keys[slot] = key;
    this.counts[slot] = 1;
    this.order[this.size++] = slot;
  }

  /** The key's slot, or the empty slot where it would go. */
  private probe(key: number): number {
    const mask = this.keys.length - 1;
    let hash = Math.imul(key ^ (key >>> 16), 0x45d9f3b);
    hash ^= hash >>> 16;
    let slot = hash & mask;
    while (this.used[slot] === 1 && this.keys[slot] !== key) slot = (slot + 1) & mask;
    return slot;
  }

  /** Doubles the table (kept at most half full), entries in the same first-seen order. */
  private grow(): void {
    const { keys, counts, order, size } = this;
    this.keys = new Int32Array(keys.length * 2);
    this.counts = new Int32Array(keys.length * 2);
    this.used = new Uint8Array(keys.length * 2);
    this.order = new Int32Array(keys.length);
    for (let i = 0; i < size; i++) {
      const slot = this.probe(keys[order[i]]);
      this.used[slot] = 1;
      this.keys[slot] = keys[order[i]];
      this.counts[slot] = counts[order[i]];
      this.order[i] = slot;
    }
  }

  /** [value, rows] in first-seen order; undefined past MAX_PROFILED_VALUES distinct values. */
  entries(): [number, number][] | undefined {
    if (this.overflow) return undefined;
    const out: [number, number][] = [];
    for (let i = 0; i < this.size; i++) {
      const slot = this.order[i];
      Float32Counts.bits[0] = this.keys[slot];
      out.push([Float32Counts.float[0], this.counts[slot]]);
    }
    return out;
  }
}

class ColumnAccumulator {
  type: 'empty' | 'numeric' | 'categorical';
  /** The chunk's cells: float32 values or uint32 codes over the same bytes. */
  readonly values: Float32Array;
  readonly codes: Uint32Array;
  readonly validity: Uint8Array;
  missingInChunk = false;
  maxCodeInChunk = 0;
  readonly dictionary = new Map<string, number>();
  readonly categories: string[] = [];
  present = 0;
  nonInteger = false;
  /** Numeric: rows per distinct float32 value, until there are more than MAX_PROFILED_VALUES. */
  readonly numberCounts = new Float32Counts();
  /** Categorical: rows per code. */
  readonly codeCounts: number[] = [];
  /** Where the first number beyond float32's range was met, reported if the column stays numeric. */
  outOfRange?: string;
  /** Numeric values were seen, then a non-number: the caller reads the source again. */
  flipped = false;

  constructor(
    readonly name: string,
    chunkRows: number,
    forcedCategorical: boolean,
  ) {
    this.type = forcedCategorical ? 'categorical' : 'empty';
    const buffer = new ArrayBuffer(chunkRows * 4);
    this.values = new Float32Array(buffer);
    this.codes = new Uint32Array(buffer);
    this.validity = new Uint8Array(bitmapBytes(chunkRows));
  }

  putMissing(row: number): void {
    this.missingInChunk = true;
    this.validity[row >> 3] &= ~(1 << (row & 7));
    this.values[row] = 0;
  }

  /**
   * True when the number is beyond float32's range and is the column's first such: the caller
   * then records where (`outOfRange`), so no message is built for the other cells.
   */
  putNumber(row: number, value: number): boolean {
    if (this.type === 'categorical') {
      this.putCategory(row, String(value));
      return false;
    }
    this.type = 'numeric';
    const first = Math.abs(value) > FLOAT32_MAX && this.outOfRange === undefined;
    const stored = Math.fround(value);
    this.values[row] = stored;
    this.validity[row >> 3] |= 1 << (row & 7);
    this.present++;
    if (!this.nonInteger && !Number.isInteger(stored)) this.nonInteger = true;
    this.numberCounts.add(stored);
    return first;
  }

  putCategory(row: number, text: string): void {
    if (this.type === 'numeric') this.flipped = true;
    this.type = 'categorical';
    let code = this.dictionary.get(text);
    if (code === undefined) {
      code = this.categories.length;
      this.dictionary.set(text, code);
      this.categories.push(text);
      this.codeCounts.push(0);
    }
    this.codeCounts[code]++;
    this.codes[row] = code;
    if (code > this.maxCodeInChunk) this.maxCodeInChunk = code;
    this.validity[row >> 3] |= 1 << (row & 7);
    this.present++;
  }

  /** This chunk's column as stored; resets the per-chunk state. Copies nothing: encodeChunk does. */
  chunkColumn(): ChunkColumn {
    const validity = this.missingInChunk ? this.validity : undefined;
    const column: ChunkColumn =
      this.type === 'categorical'
        ? this.maxCodeInChunk < 0x10000
          ? { kind: ColumnKind.Codes16, data: Uint16Array.from(this.codes), validity }
          : { kind: ColumnKind.Codes32, data: this.codes, validity }
        : { kind: ColumnKind.Float32, data: this.values, validity };
    return column;
  }

  resetChunk(): void {
    this.missingInChunk = false;
    this.maxCodeInChunk = 0;
  }

  profile(): ColumnProfile {
    if (this.type === 'categorical') {
      const overflow = this.categories.length > MAX_PROFILED_VALUES;
      const profile: ColumnProfile = {
        type: 'categorical',
        rows: this.present,
        distinct: overflow ? MAX_PROFILED_VALUES + 1 : this.categories.length,
        nonInteger: false,
      };
      if (!overflow) {
        profile.counts = this.categories
          .map((label, code): [string, number] => [label, this.codeCounts[code]])
          .sort((a, b) => b[1] - a[1]);
      }
      return profile;
    }
    const counts = this.numberCounts.entries();
    const profile: ColumnProfile = {
      type: 'numeric',
      rows: this.present,
      distinct: counts ? counts.length : MAX_PROFILED_VALUES + 1,
      nonInteger: this.nonInteger,
    };
    if (counts) {
      profile.counts = counts
        .map(([value, rows]): [string, number] => [String(value), rows])
        .sort((a, b) => b[1] - a[1]);
    }
    return profile;
  }
}

export class DatasetBuilder {
  private readonly columns: ColumnAccumulator[] = [];
  private readonly byName = new Map<string, ColumnAccumulator>();
  /** Data rows seen, including those past the row limit (counted for the message only). */
  private rows = 0;
  private rowInChunk = 0;
  private chunks = 0;
  /** The chunk write in flight (see flush). */
  private writing: Promise<void> | undefined;

  constructor(private readonly options: BuilderOptions) {}

  /** The CSV header, trimmed and checked like parseCsv's. */
  setHeader(fields: string[]): void {
    const names = fields.map((field) => field.trim());
    checkColumnCount(names.length, this.options.limits);
    names.forEach((name, index) => checkColumnName(name, `header column ${index + 1}`));
    checkNoDuplicateNames(names);
    for (const name of names) this.addColumn(name);
  }

  get columnCount(): number {
    return this.columns.length;
  }

  /** True once the row limit is passed: rows are then only counted. */
  private overLimit(): boolean {
    return this.rows > this.options.limits.maxRows;
  }

  /**
   * One CSV record (its fields as byte ranges, from CsvTokenizer); `line` is the 1-based line it
   * ends on. True when the chunk is full. Each cell is taken as the string path below would take
   * its text (trimmed; a missing spelling; a decimal number unless the column is categorical;
   * else a category), read from the bytes where they are plain ASCII: no string is made for a
   * number or a missing cell.
   */
  addCsvRecord(fields: CsvFields, line: number): boolean {
    this.rows++;
    if (this.overLimit()) return false;
    if (fields.count !== this.columns.length) {
      throw invalid(
        'INVALID_DATASET',
        `line ${line} has ${fields.count} fields but the header has ${this.columns.length}`,
      );
    }
    const row = this.rowInChunk;
    const { buf, starts, ends, kinds } = fields;
    for (let c = 0; c < fields.count; c++) {
      const column = this.columns[c];
      if (kinds[c] !== FieldKind.Plain) {
        this.putText(column, row, fields.text(c).trim(), line);
        continue;
      }
      let start = starts[c];
      let end = ends[c];
      while (start < end && isAsciiSpace(buf[start])) start++;
      while (end > start && isAsciiSpace(buf[end - 1])) end--;
      if (start < end && (buf[start] >= 0x80 || buf[end - 1] >= 0x80)) {
        // Unicode at either end (it may be whitespace trim removes): the string path.
        this.putText(column, row, buf.toString('utf8', start, end).trim(), line);
      } else if (isMissingBytes(buf, start, end)) {
        column.putMissing(row);
      } else if (column.type !== 'categorical') {
        const value = decimalFromBytes(buf, start, end);
        if (Number.isNaN(value)) {
          const text = buf.toString('utf8', start, end);
          if (mayBeInfinityWord(buf, start, end) && isInfiniteNumberText(text))
            throw notFinite(column.name, line, text);
          column.putCategory(row, text);
        } else {
          if (!Number.isFinite(value)) throw notFinite(column.name, line, buf.toString('latin1', start, end));
          if (column.putNumber(row, value)) {
            column.outOfRange = `column "${column.name}" line ${line}: ${buf.toString('latin1', start, end)}`;
          }
        }
      } else {
        const text = buf.toString('utf8', start, end);
        const value = decimalFromBytes(buf, start, end);
        // isInfiniteNumberText: an infinity word, or a decimal number that overflows.
        if (value === Infinity || value === -Infinity || mayBeInfinityWord(buf, start, end)) {
          if (isInfiniteNumberText(text)) throw notFinite(column.name, line, text);
        }
        column.putCategory(row, text);
      }
    }
    return this.endRow();
  }

  /** One trimmed cell by its text: what every cell went through before the byte path. */
  private putText(column: ColumnAccumulator, row: number, text: string, line: number): void {
    // The missing spellings are at most 4 characters: longer cells skip the lower-casing.
    if (text.length <= 4 && MISSING_TOKENS.has(text.toLowerCase())) {
      column.putMissing(row);
    } else if (column.type !== 'categorical' && DECIMAL_NUMBER.test(text)) {
      const value = Number(text);
      if (!Number.isFinite(value)) throw notFinite(column.name, line, text);
      if (column.putNumber(row, value)) column.outOfRange = `column "${column.name}" line ${line}: ${text}`;
    } else {
      if (isInfiniteNumberText(text)) throw notFinite(column.name, line, text);
      column.putCategory(row, text);
    }
  }

  /**
   * One row object (NDJSON line or JSON row). Keys are columns in first-seen order; an absent key
   * is missing. Values are taken like parseJsonRows takes them. True when the chunk is full.
   */
  addObjectRow(value: unknown, where: string): boolean {
    this.rows++;
    if (this.overLimit()) return false;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw invalid('INVALID_DATASET', `${where} must be an object of column values, got ${describeJsonValue(value)}`);
    }
    const row = this.rowInChunk;
    const object = value as Record<string, unknown>;
    for (const key of Object.keys(object)) {
      if (!this.byName.has(key)) {
        checkColumnName(key, `a key in ${where}`);
        this.addColumn(key);
        checkColumnCount(this.columns.length, this.options.limits);
      }
    }
    for (const column of this.columns) {
      if (!Object.prototype.hasOwnProperty.call(object, column.name)) {
        column.putMissing(row);
        continue;
      }
      const raw = object[column.name];
      const cell = cellFromJson(raw);
      if (cell === undefined) {
        throw invalid(
          'INVALID_DATASET',
          `${where} column "${column.name}": ${describeJsonValue(raw)} is not allowed; ` +
            'a value must be a finite number, a string, a boolean or null',
        );
      }
      this.putCell(column, row, cell, where);
    }
    return this.endRow();
  }

  /** One row of already-typed cells in column order (a parsed Table's row). */
  addCells(names: readonly string[], cells: readonly CellValue[]): boolean {
    if (this.columns.length === 0) for (const name of names) this.addColumn(name);
    this.rows++;
    const row = this.rowInChunk;
    for (let c = 0; c < cells.length; c++) this.putCell(this.columns[c], row, cells[c], `row ${this.rows - 1}`);
    return this.endRow();
  }

  private putCell(column: ColumnAccumulator, row: number, cell: CellValue, where: string): void {
    if (cell === null) column.putMissing(row);
    else if (typeof cell === 'number') {
      if (column.putNumber(row, cell)) column.outOfRange = `${where} column "${column.name}": ${cell}`;
    } else column.putCategory(row, cell);
  }

  private addColumn(name: string): void {
    const column = new ColumnAccumulator(name, this.options.chunkRows, this.options.categorical?.has(name) ?? false);
    // Rows of this chunk before the column existed are missing.
    for (let r = 0; r < this.rowInChunk; r++) column.putMissing(r);
    this.columns.push(column);
    this.byName.set(name, column);
  }

  private endRow(): boolean {
    this.rowInChunk++;
    return this.rowInChunk === this.options.chunkRows;
  }

  /** Hands the rows held so far to `onChunk` as one chunk (nothing when none are held). */
  async flush(): Promise<void> {
    if (this.rowInChunk === 0) return;
    const rows = this.rowInChunk;
    const bytes = encodeChunk(
      rows,
      this.columns.map((column) => column.chunkColumn()),
    );
    for (const column of this.columns) column.resetChunk();
    this.rowInChunk = 0;
    // One chunk is written while the next one fills: the previous write is awaited (in order,
    // and its error thrown) before this one starts.
    await this.writing;
    const write = this.options.onChunk(this.chunks++, bytes);
    // Handled here so that a failure is not unhandled while no one awaits it; thrown by the
    // next flush, by finish or by settle.
    write.catch(() => undefined);
    this.writing = write;
  }

  /** Waits for the chunk being written, if any; its error is thrown. */
  async settle(): Promise<void> {
    const write = this.writing;
    this.writing = undefined;
    await write;
  }

  /**
   * After the last row: flushes, then either names the columns that need a second pass, or checks
   * what can only be checked at the end (row counts, empty columns, numbers out of range) and
   * returns the dataset's schema and profiles.
   */
  async finish(): Promise<BuildResult> {
    if (this.columns.length === 0) {
      throw invalid('INVALID_DATASET', 'the rows have no keys; at least 1 column is required');
    }
    checkRowCount(this.rows, this.options.limits);
    await this.flush();
    await this.settle();
    const flipped = new Set(this.columns.filter((column) => column.flipped).map((column) => column.name));
    if (flipped.size > 0) return { secondPass: flipped };
    for (const column of this.columns) {
      if (column.type === 'empty') {
        throw invalid('INVALID_DATASET', `column "${column.name}" has no values (every cell is missing); remove it`);
      }
    }
    for (const column of this.columns) {
      if (column.type === 'numeric' && column.outOfRange !== undefined) throw outOfRange(column.outOfRange);
    }
    const categories = new Map<string, string[]>();
    const profiles = new Map<string, ColumnProfile>();
    for (const column of this.columns) {
      if (column.type === 'categorical') categories.set(column.name, column.categories);
      profiles.set(column.name, column.profile());
    }
    return {
      dataset: {
        rows: this.rows,
        columns: this.columns.map((column) => ({ name: column.name, type: column.type as 'numeric' | 'categorical' })),
        categories,
        profiles,
        chunks: this.chunks,
      },
    };
  }
}

function notFinite(name: string, line: number, text: string) {
  return invalid(
    'INVALID_DATASET',
    `column "${name}" line ${line}: "${text}" is not a finite number; use an empty cell for a missing value`,
  );
}
