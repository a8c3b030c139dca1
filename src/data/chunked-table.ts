import type { ColumnInfo, Table } from './table';

/**
 * A dataset read a chunk at a time: consecutive rows, `chunkCount` parts of at most a fixed row
 * count, each a table of its own with the dataset's columns. Reading one holds that chunk only.
 */
export interface ChunkedTable {
  id: string;
  columns: ColumnInfo[];
  rows: number;
  chunkCount: number;
  /** Chunk `index` (0-based) as a table of its rows, read afresh. */
  chunk(index: number): Promise<Table>;
}
