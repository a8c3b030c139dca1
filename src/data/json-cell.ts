import type { CellValue } from './table';

/**
 * The largest magnitude a float32 holds: the network (TensorFlow.js) computes in 32-bit floats,
 * where a larger number is Infinity and its losses and outputs NaN. Numbers beyond it are refused
 * at upload and at predict, naming the value.
 */
export const FLOAT32_MAX = 3.4028234663852886e38;

export function outsideFloat32(value: number): boolean {
  return Math.abs(value) > FLOAT32_MAX;
}

/**
 * Decimal notation only. `Number()` alone would also accept "0x1F", "0b1" and "0o7", which in a
 * CSV are far more likely codes than numbers.
 */
export const DECIMAL_NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$/i;

/** A string that spells a decimal number ("174.09", " -2.5e-1 "), as that number; else undefined. */
export function numberFromText(text: string): number | undefined {
  const trimmed = text.trim();
  return DECIMAL_NUMBER.test(trimmed) ? Number(trimmed) : undefined;
}

export const FLOAT32_RANGE = `32-bit floats, magnitude at most ${FLOAT32_MAX}`;

/**
 * Conversion of one JSON value into a cell, shared by JSON datasets and prediction rows so both
 * accept exactly the same values.
 */

/**
 * A finite number, a string or null is kept; a boolean becomes "true"/"false" (a two-category
 * value, not 0/1, so it stays categorical like it would in a CSV). Anything else (objects,
 * arrays, NaN, ±Infinity, undefined) returns `undefined`: it has no meaning as one cell.
 */
export function cellFromJson(value: unknown): CellValue | undefined {
  if (value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  return undefined;
}

/** A short description of a rejected value for error messages: "an object", "NaN", … */
export function describeJsonValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `the string ${JSON.stringify(truncate(value))}`;
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** True for `{…}` objects as JSON.parse makes them; false for arrays, null, class instances. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}
