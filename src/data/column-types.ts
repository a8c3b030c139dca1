import { invalid } from '../errors';
import type { CellValue, ColumnInfo } from './table';

/**
 * Type inference for one column: numeric when every present value is a number, categorical
 * otherwise. A categorical column gets its numbers as strings, so later code can rely on each
 * column being homogeneous (numbers only, or strings only, plus nulls).
 */
export function typeColumn(name: string, values: CellValue[]): { info: ColumnInfo; values: CellValue[] } {
  if (values.every((value) => value === null)) {
    throw invalid('INVALID_DATASET', `column "${name}" has no values (every cell is missing); remove it`);
  }
  const numeric = values.every((value) => value === null || typeof value === 'number');
  if (numeric) return { info: { name, type: 'numeric' }, values };
  return {
    info: { name, type: 'categorical' },
    values: values.map((value) => (value === null ? null : String(value))),
  };
}
