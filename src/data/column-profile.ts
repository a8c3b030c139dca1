import type { CellValue, ColumnType } from './table';

/** Distinct values counted per column; a classification target may not have more classes. */
export const MAX_PROFILED_VALUES = 4096;

/**
 * What the submission checks need to know about a column without reading the whole dataset:
 * computed once when the dataset is stored, kept beside it (see DatasetStore.columnProfile).
 */
export interface ColumnProfile {
  type: ColumnType;
  /** Rows with a value (missing cells are not counted). */
  rows: number;
  /** Distinct values; MAX_PROFILED_VALUES + 1 means "more than MAX_PROFILED_VALUES". */
  distinct: number;
  /** Numeric columns: whether some value is not an integer. */
  nonInteger: boolean;
  /**
   * Rows per distinct value as a class label (`String(value)`, as training labels rows), most
   * frequent first; absent when there are more than MAX_PROFILED_VALUES distinct values.
   */
  counts?: [label: string, rows: number][];
}

export function profileColumn(type: ColumnType, values: readonly CellValue[]): ColumnProfile {
  const profiler = new ColumnProfiler(type);
  profiler.add(values);
  return profiler.profile();
}

/** `profileColumn` over values that arrive in parts (a dataset's chunks, in order). */
export class ColumnProfiler {
  private readonly counts = new Map<string, number>();
  private rows = 0;
  private nonInteger = false;
  private overflow = false;

  constructor(private readonly type: ColumnType) {}

  add(values: ArrayLike<CellValue>): void {
    const counts = this.counts;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (value === null) continue;
      this.rows++;
      if (typeof value === 'number' && !Number.isInteger(value)) this.nonInteger = true;
      const label = String(value);
      const seen = counts.get(label);
      if (seen !== undefined) counts.set(label, seen + 1);
      else if (counts.size < MAX_PROFILED_VALUES) counts.set(label, 1);
      else this.overflow = true;
    }
  }

  profile(): ColumnProfile {
    const profile: ColumnProfile = {
      type: this.type,
      rows: this.rows,
      distinct: this.overflow ? MAX_PROFILED_VALUES + 1 : this.counts.size,
      nonInteger: this.nonInteger,
    };
    if (!this.overflow) profile.counts = [...this.counts].sort((a, b) => b[1] - a[1]);
    return profile;
  }
}
