import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/ml/backend';
import type { Param } from '../../src/ml/layers/layer';

/**
 * The ML tests run on the wasm backend: it is always installed, deterministic, and the one the
 * service falls back to. Call from a `before` hook; initBackend is idempotent per process.
 */
export async function useWasmBackend(): Promise<void> {
  const info = await initBackend('wasm');
  assert.equal(info.name, 'wasm', `expected the wasm backend, got ${info.name}`);
}

/** Element-wise |actual − expected| ≤ tol, naming the first index that is off. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  label = 'value',
): void {
  assert.equal(actual.length, expected.length, `${label}: length ${actual.length} ≠ ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    assert.ok(diff <= tol, `${label}[${i}]: got ${actual[i]}, expected ${expected[i]} (|diff| ${diff} > ${tol})`);
  }
}

/** Reads a tensor's values and disposes it. */
export function take(t: tf.Tensor): Float32Array {
  const values = Float32Array.from(t.dataSync());
  t.dispose();
  return values;
}

/** Row-major [rows, cols] → nested arrays, for hand computations that read better by row. */
export function rowsOf(values: ArrayLike<number>, cols: number): number[][] {
  const out: number[][] = [];
  for (let r = 0; r * cols < values.length; r++) {
    out.push(Array.from({ length: cols }, (_, c) => values[r * cols + c]));
  }
  return out;
}

/** Sets a parameter or buffer variable to the given values (shape kept). */
export function setVariable(variable: tf.Variable, values: ArrayLike<number>): void {
  tf.tidy(() => variable.assign(tf.tensor(Float32Array.from(values), variable.shape)));
}

export function paramByName(params: Param[], name: string): Param {
  const param = params.find((p) => p.name === name);
  assert.ok(param, `no parameter named ${name} (have ${params.map((p) => p.name).join(', ')})`);
  return param;
}
