import type { ColumnInfo, TableView } from './table';

/**
 * A dataset read a chunk at a time: consecutive rows, `chunkCount` parts of at most a fixed row
 * count, each a table of its own with the dataset's columns. Reading one holds that chunk only.
 */
export interface ChunkedTable {
  id: string;
  columns: ColumnInfo[];
  rows: number;
  chunkCount: number;
  /**
   * Chunk `index` (0-based) as a view of its rows, read afresh (DatasetStore.chunkView: gap-free
   * numeric columns are float32 arrays).
   */
  chunk(index: number): Promise<TableView>;
}
